<%@ Page Language="C#" AutoEventWireup="true" Inherits="Microsoft.Exchange.HttpProxy.TimeoutLogout" %>
<!DOCTYPE html>
<html><head><title>Outlook</title></head><body><!-- stock page (synthetic sample) --></body></html>
