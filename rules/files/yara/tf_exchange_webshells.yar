// taskforce built-in YARA rules: web shells left on Exchange servers (detections.md A.3, FS-04).
//
// Written for this project from the public facts in the detection specification (strings, file
// headers, size limits); no third-party rule text. Every rule carries the same meta block:
//   id          stable finding id (TF-FS-xx-...)
//   title       one line for the report
//   severity    info | low | medium | high | critical
//   stage       scan | recon | exploit | persistence | webshell | execution | credential-access | ...
//   verdict     none | review | attempted | compromised   (the effect of a hit on the host verdict)
//   cves        comma-separated CVE ids
//   reference   where the facts come from
//   description what the rule looks for, in our words
// Tests: crates/files/tests/fixtures/yara/<id>.{match,nomatch}*.txt (inert text files).

rule TF_FS04_OAB_Config_WebShell
{
    meta:
        id = "TF-FS-04-OABCONFIG"
        title = "OAB virtual directory settings saved as a page with a server-side script (ProxyLogon web shell)"
        severity = "critical"
        stage = "webshell"
        verdict = "compromised"
        cves = "CVE-2021-26855,CVE-2021-27065"
        reference = "detections.md A.3 FS-04 (a) and (e)"
        description = "After CVE-2021-26855 the attacker sets the OAB virtual directory's ExternalUrl or InternalUrl to a script block and resets the directory, which writes all its settings to a file path of the attacker's choice (CVE-2021-27065). The dropped file is a short text dump of the directory's properties with the script inside the URL field, usually under aspnet_client or owa/auth."
    strings:
        $script1 = "<script" ascii wide nocase
        $script2 = "runat=\"server\"" ascii wide nocase
        $script3 = "page language" ascii wide nocase
        $script4 = "/script" ascii wide nocase
        $url1 = "ExternalUrl" ascii wide nocase
        $url2 = "InternalUrl" ascii wide nocase
        $prop1 = "InternalAuthenticationMethods" ascii wide nocase
        $prop2 = "ExtendedProtectionTokenChecking" ascii wide nocase
    condition:
        filesize < 50KB and any of ($script*) and any of ($url*) and all of ($prop*)
}

rule TF_FS04_Chopper_JScript
{
    meta:
        id = "TF-FS-04-CHOPPER-JSCRIPT"
        title = "China Chopper style JScript page: request data handed to eval"
        severity = "critical"
        stage = "webshell"
        verdict = "compromised"
        cves = "CVE-2021-26855,CVE-2021-27065"
        reference = "detections.md A.3 FS-04 (b), (c), (e), (h)"
        description = "A server-side JScript block or a JScript page directive together with eval() applied to the request (Request[...], Request.Item[...], Request.Form(...), Page_Load(){eval(Request...), or the obfuscated _0x... array form). This is the one-line China Chopper client's server side, the most common shell of the 2021 Exchange campaigns."
    strings:
        $block = /<script\s+language\s*=\s*["']?jscript["']?\s+runat\s*=\s*["']?server/ nocase
        $directive = /<%@\s*page\s+language\s*=\s*["']?jscript/ nocase
        $eval_load = /function\s+Page_Load\s*\(\s*\)\s*\{\s*eval\s*\(\s*Request\b/ nocase
        $eval_req = /eval\s*\(\s*Request\s*(\.\s*(Item|Form|QueryString)\s*)?[\[(]/ nocase
        $eval_obf1 = /;\s*eval\s*\(\s*Request\s*\[\s*_0x/ nocase
        $eval_obf2 = ");eval/*"
    condition:
        filesize < 2MB and ($block or $directive) and any of ($eval*)
}

rule TF_FS04_JScript_Base64_Eval
{
    meta:
        id = "TF-FS-04-JSCRIPT-B64-EVAL"
        title = "JScript page that decodes base64 from the request and evaluates it"
        severity = "critical"
        stage = "webshell"
        verdict = "compromised"
        cves = "CVE-2021-26855,CVE-2021-27065"
        reference = "detections.md A.3 FS-04 (d)"
        description = "A JScript page directive, a FromBase64String call and eval() of the decoded text (System.Text.Encoding...GetString): a Chopper variant that hides its commands in base64."
    strings:
        $directive = /<%@\s*page\s+language\s*=\s*["']?jscript/ nocase
        $b64 = ".FromBase64String(" nocase
        $eval = /eval\s*\(\s*System\.Text\.Encoding\./ nocase
    condition:
        filesize < 2MB and all of them
}

rule TF_FS04_CSharp_Request_File_Writer
{
    meta:
        id = "TF-FS-04-CHOPPER-CSHARP-WRITER"
        title = "C# page that writes a file named and filled by the request (Chopper uploader)"
        severity = "critical"
        stage = "webshell"
        verdict = "compromised"
        cves = "CVE-2021-26855,CVE-2021-27065"
        reference = "detections.md A.3 FS-04 (b)"
        description = "Page_Load opens a StreamWriter on a path taken from a form field and writes another form field into it: a stager that lets the attacker upload any file, seen beside the JScript Chopper shells in March 2021."
    strings:
        $load = /void\s+Page_Load\s*\(/ nocase
        $open = /new\s+System\.IO\.StreamWriter\s*\(\s*Request\.Form\s*\[/ nocase
        $write = /\.Write\s*\(\s*Request\.Form\s*\[/ nocase
    condition:
        filesize < 2MB and all of them
}

rule TF_FS04_Eval_Loader_Markers
{
    meta:
        id = "TF-FS-04-EVAL-LOADER"
        title = "Page with an obfuscated eval loader (iisstart/Logout style)"
        severity = "high"
        stage = "webshell"
        verdict = "compromised"
        cves = "CVE-2021-26855,CVE-2021-27065"
        reference = "detections.md A.3 FS-04 (h)"
        description = "A page directive or server-side script block with the comment-split eval marker );eval/*asf, or with the two loader strings AppcacheVer and function getErrorWord that disguised shells dropped as iisstart.aspx or Logout.aspx."
    strings:
        $page1 = /<%@\s*page\s/ nocase
        $page2 = "runat=\"server\"" nocase
        $asf = ");eval/*asf"
        $loader1 = "AppcacheVer"
        $loader2 = "function getErrorWord"
    condition:
        filesize < 1MB and any of ($page*) and ($asf or all of ($loader*))
}

rule TF_FS04_ProxyShell_PST_Page
{
    meta:
        id = "TF-FS-04-PST-PAGE"
        title = "Mailbox export (PST) saved as a web page: ProxyShell web shell"
        severity = "critical"
        stage = "webshell"
        verdict = "compromised"
        cves = "CVE-2021-34473,CVE-2021-34523,CVE-2021-31207"
        reference = "detections.md A.3 FS-04 (f)"
        description = "ProxyShell drops its shell with New-MailboxExportRequest: the file starts with the PST magic !BDN and carries a page directive or script block that the attacker pre-encoded so it reads as plain text inside the PST. No real page starts with a PST header."
    strings:
        $page1 = "Page Language=" ascii nocase
        $page2 = /<%@\s*Page\s+Language\s*=/ nocase
        $page3 = "runat=\"server\"" ascii nocase
    condition:
        uint32(0) == 0x4e444221 and filesize < 2MB and any of them
}

rule TF_FS04_ProxyShell_CertRequest_Page
{
    meta:
        id = "TF-FS-04-CERTREQ-PAGE"
        title = "Certificate request (DER) saved as a web page: ProxyShell web shell"
        severity = "critical"
        stage = "webshell"
        verdict = "compromised"
        cves = "CVE-2021-34473,CVE-2021-34523,CVE-2021-31207"
        reference = "detections.md A.3 FS-04 (g)"
        description = "A ProxyShell variant writes the shell with New-ExchangeCertificate -RequestFile: a small binary certificate request (DER SEQUENCE header 30 82) whose subject holds a page directive."
    strings:
        $page1 = "Page Language=" ascii nocase
        $page2 = /<%@\s*Page\s+Language\s*=/ nocase
    condition:
        uint16(0) == 0x8230 and filesize < 10KB and any of them
}

rule TF_FS08_Compiled_JScript_WebShell
{
    meta:
        id = "TF-FS-08-COMPILED-SHELL"
        title = "ASP.NET compiled a JScript eval page from a web shell folder"
        severity = "high"
        stage = "webshell"
        verdict = "compromised"
        cves = "CVE-2021-26855,CVE-2021-27065"
        reference = "detections.md A.3 FS-08"
        description = "An App_Web_*.dll in Temporary ASP.NET Files built from a page under aspnet_client, owa/auth or ecp/auth that calls JScript eval on request data. It proves the shell was requested (compiled on first use) even when the page itself was deleted."
    strings:
        $vpath1 = "/aspnet_client/" ascii wide nocase
        $vpath2 = "/owa/auth/" ascii wide nocase
        $vpath3 = "/ecp/auth/" ascii wide nocase
        $eval = "JScriptEvaluate" ascii wide
        $request = "get_Request" ascii wide
    condition:
        uint16(0) == 0x5a4d and filesize < 2MB and any of ($vpath*) and $eval and $request
}

rule TF_PL08_WER_ECP_AppPool_Crash
{
    meta:
        id = "TF-PL-08-WER"
        title = "Windows Error Report of a crash in the ECP application pool (CVE-2021-26855/27065 attempt after patching)"
        severity = "medium"
        stage = "exploit"
        verdict = "attempted"
        cves = "CVE-2021-26855,CVE-2021-27065"
        reference = "detections.md A.2 PL-08 (WER report files, UTF-16LE key=value text)"
        description = "Windows Error Reporting writes a Report.wer (UTF-16 text) when the IIS worker of the Exchange ECP application pool crashes. After the March 2021 updates, exploitation attempts against ECP end this way, so a report naming w3wp.exe and MSExchangeECPAppPool is a sign of an attempt that failed; check the HttpProxy and ECP logs around its time for the requests that caused it."
    strings:
        $app = "AppPath=c:\\windows\\system32\\inetsrv\\w3wp.exe" ascii wide nocase
        $pool = ".Value=w3wp#MSExchangeECPAppPool" ascii wide nocase
    condition:
        filesize < 64KB and $app and $pool
}
