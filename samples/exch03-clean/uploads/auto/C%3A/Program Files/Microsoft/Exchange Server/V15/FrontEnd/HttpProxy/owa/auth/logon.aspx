<%@ Page Language="C#" AutoEventWireup="true" Inherits="Microsoft.Exchange.HttpProxy.Logon" %>
<!DOCTYPE html>
<html><head><title>Outlook</title></head><body><!-- stock page (synthetic sample) --></body></html>
