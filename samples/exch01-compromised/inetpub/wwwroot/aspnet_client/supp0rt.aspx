Name                            : OAB (Default Web Site)
PollInterval                    : 480
OfflineAddressBooks             : 
RequireSSL                      : True
BasicAuthentication             : False
WindowsAuthentication           : True
OAuthAuthentication             : False
MetabasePath                    : IIS://EXCH01.contoso.local/W3SVC/1/ROOT/OAB
Path                            : C:\Program Files\Microsoft\Exchange Server\V15\FrontEnd\HttpProxy\OAB
ExtendedProtectionTokenChecking : None
ExtendedProtectionFlags         : 
InternalUrl                     : https://exch01.contoso.local/OAB
InternalAuthenticationMethods   : {WindowsIntegrated}
ExternalUrl                     : http://f/<script language="JScript" runat="server">function Page_Load(){/* synthetic sample: inert */}</script>
ExternalAuthenticationMethods   : {WindowsIntegrated}
AdminDisplayName                : 
Server                          : EXCH01
