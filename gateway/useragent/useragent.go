// Package useragent reads a browser's User-Agent header: the operating
// system and its version, the device model when the header names one, the
// browser (including the in-app browsers of social apps) and the platform
// class a click link redirects by.
//
// It is a small, allocation-light scanner over the substrings browsers
// actually send, not a full UA database: unknown agents give "other" and
// the DESKTOP class.
//
// iPads: since iPadOS 13, Safari on an iPad asks for desktop sites and
// sends the macOS UA ("Macintosh; Intel Mac OS X 10_15_7"), which a server
// cannot tell from a Mac (the touch hint exists only in JavaScript). The
// parser is conservative: a bare Macintosh UA is macOS and DESKTOP. Only
// explicit hints move it to iPadOS/IOS: an "iPad" token (older iPads,
// "Request Mobile Website", in-app browsers) or a "Mobile/" build token
// next to "Macintosh", which desktop Safari never sends.
package useragent

import "strings"

// Platform classes a click link redirects by.
const (
	Android = "ANDROID"
	IOS     = "IOS"
	Desktop = "DESKTOP"
)

// Operating systems.
const (
	OSAndroid  = "Android"
	OSIOS      = "iOS"
	OSIPadOS   = "iPadOS"
	OSWindows  = "Windows"
	OSMacOS    = "macOS"
	OSLinux    = "Linux"
	OSChromeOS = "ChromeOS"
	OSOther    = "other"
)

// Browsers.
const (
	Chrome          = "Chrome"
	Safari          = "Safari"
	Firefox         = "Firefox"
	Edge            = "Edge"
	Opera           = "Opera"
	SamsungInternet = "Samsung Internet"
	Facebook        = "Facebook"
	Instagram       = "Instagram"
	TikTok          = "TikTok"
	Snapchat        = "Snapchat"
	LinkedIn        = "LinkedIn"
	WebView         = "WebView"
	BrowserOther    = "other"
)

// Agent is what a User-Agent header says.
type Agent struct {
	OS        string
	OSVersion string
	// Device is the model when the header names one ("Pixel 8",
	// "SM-S918B", "iPhone", "iPad"); empty otherwise.
	Device         string
	Browser        string
	BrowserVersion string
	// Platform is ANDROID, IOS or DESKTOP.
	Platform string
}

// Parse reads ua.
func Parse(ua string) Agent {
	a := Agent{OS: OSOther, Browser: BrowserOther, Platform: Desktop}
	parseOS(ua, &a)
	parseBrowser(ua, &a)
	return a
}

func parseOS(ua string, a *Agent) {
	switch {
	case strings.Contains(ua, "Android"):
		a.OS, a.Platform = OSAndroid, Android
		a.OSVersion = version(after(ua, "Android "))
		a.Device = androidModel(ua)
	case strings.Contains(ua, "iPad"):
		a.OS, a.Platform, a.Device = OSIPadOS, IOS, "iPad"
		a.OSVersion = appleVersion(ua)
	case strings.Contains(ua, "iPhone"), strings.Contains(ua, "iPod"):
		a.OS, a.Platform, a.Device = OSIOS, IOS, "iPhone"
		if strings.Contains(ua, "iPod") {
			a.Device = "iPod"
		}
		a.OSVersion = appleVersion(ua)
	case strings.Contains(ua, "CrOS"):
		a.OS = OSChromeOS
		if s := after(ua, "CrOS "); s != "" {
			// "CrOS x86_64 14541.0.0": skip the architecture
			if _, rest, ok := strings.Cut(s, " "); ok {
				a.OSVersion = version(rest)
			}
		}
	case strings.Contains(ua, "Windows"):
		a.OS = OSWindows
		a.OSVersion = windowsVersion(version(after(ua, "Windows NT ")))
	case strings.Contains(ua, "Macintosh"), strings.Contains(ua, "Mac OS X"):
		a.OS = OSMacOS
		a.OSVersion = strings.ReplaceAll(version(after(ua, "Mac OS X ")), "_", ".")
		if strings.Contains(ua, " Mobile/") {
			// desktop-mode Safari on an iPad that still says Mobile/
			a.OS, a.Platform, a.Device, a.OSVersion = OSIPadOS, IOS, "iPad", ""
		}
	case strings.Contains(ua, "Linux"), strings.Contains(ua, "X11"):
		a.OS = OSLinux
	}
}

// appleVersion is the iOS version of "CPU iPhone OS 17_4 like Mac OS X"
// or "CPU OS 17_4 like Mac OS X".
func appleVersion(ua string) string {
	s := after(ua, " OS ")
	if s == "" {
		return ""
	}
	return strings.ReplaceAll(version(s), "_", ".")
}

// windowsVersion names a Windows NT version.
func windowsVersion(nt string) string {
	switch nt {
	case "10.0":
		return "10" // Windows 11 also says 10.0
	case "6.3":
		return "8.1"
	case "6.2":
		return "8"
	case "6.1":
		return "7"
	}
	return nt
}

// androidModel is the model between "Android <v>;" and " Build/" or ")".
// Chrome's reduced UA says "K" instead of the model.
func androidModel(ua string) string {
	i := strings.Index(ua, "Android")
	if i < 0 {
		return ""
	}
	rest := ua[i:]
	end := strings.IndexByte(rest, ')')
	if end < 0 {
		return ""
	}
	rest = rest[:end]
	// the last "; "-separated part that is not the locale nor "wv"
	model := ""
	for part := range strings.SplitSeq(rest, ";") {
		part = strings.TrimSpace(part)
		if part == "" || part == "wv" || part == "K" || part == "U" || part == "Mobile" || part == "Tablet" ||
			strings.HasPrefix(part, "Android") || strings.HasPrefix(part, "rv:") || isLocale(part) {
			continue
		}
		model = part
	}
	if b, _, ok := strings.Cut(model, " Build/"); ok {
		model = b
	}
	return strings.TrimSpace(model)
}

func isLocale(s string) bool {
	return (len(s) == 2 || len(s) == 5 && (s[2] == '-' || s[2] == '_')) && s[0] >= 'a' && s[0] <= 'z'
}

func parseBrowser(ua string, a *Agent) {
	// set names the browser, its version after the first of tokens found
	set := func(name string, tokens ...string) {
		a.Browser = name
		for _, t := range tokens {
			if v := version(after(ua, t)); v != "" {
				a.BrowserVersion = v
				return
			}
		}
	}
	has := func(tokens ...string) bool {
		for _, t := range tokens {
			if strings.Contains(ua, t) {
				return true
			}
		}
		return false
	}
	switch {
	// in-app browsers first: they embed Chrome or Safari tokens
	case has("FBAN/", "FBAV/", "FB_IAB"):
		set(Facebook, "FBAV/")
	case has("Instagram"):
		set(Instagram, "Instagram ")
	case has("musical_ly", "TikTok", "BytedanceWebview"):
		set(TikTok, "musical_ly_", "TikTok ")
	case has("Snapchat"):
		set(Snapchat, "Snapchat/")
	case has("LinkedInApp"):
		set(LinkedIn, "LinkedInApp/")
	case has("SamsungBrowser/"):
		set(SamsungInternet, "SamsungBrowser/")
	case has("Edg/", "EdgA/", "EdgiOS/"):
		set(Edge, "Edg/", "EdgA/", "EdgiOS/")
	case has("OPR/", "OPiOS/"):
		set(Opera, "OPR/", "OPiOS/")
	case has("Firefox/", "FxiOS/"):
		set(Firefox, "Firefox/", "FxiOS/")
	case has("CriOS/"):
		set(Chrome, "CriOS/")
	case has("; wv)"):
		set(WebView, "Chrome/")
	case has("Chrome/"):
		set(Chrome, "Chrome/")
	case has("Safari/") && has("Version/"):
		set(Safari, "Version/")
	case a.Platform == IOS && has("AppleWebKit/"):
		// an app's WKWebView: no Safari/ token
		a.Browser = WebView
	}
}

// after is what follows the first token in ua ("" when absent).
func after(ua, token string) string {
	i := strings.Index(ua, token)
	if i < 0 {
		return ""
	}
	return ua[i+len(token):]
}

// version is the leading run of digits, dots and underscores of s.
func version(s string) string {
	n := 0
	for n < len(s) && (s[n] >= '0' && s[n] <= '9' || s[n] == '.' || s[n] == '_') {
		n++
	}
	return strings.TrimRight(s[:n], "._")
}
