package useragent

import "testing"

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, ua string
		want     Agent
	}{
		{"pixel chrome",
			"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
			Agent{OS: OSAndroid, OSVersion: "14", Device: "Pixel 8", Browser: Chrome, BrowserVersion: "124.0.6367.82", Platform: Android}},
		{"reduced android chrome",
			"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Mobile Safari/537.36",
			Agent{OS: OSAndroid, OSVersion: "10", Browser: Chrome, BrowserVersion: "125.0.0.0", Platform: Android}},
		{"samsung internet",
			"Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
			Agent{OS: OSAndroid, OSVersion: "13", Device: "SM-S918B", Browser: SamsungInternet, BrowserVersion: "23.0", Platform: Android}},
		{"android webview with build",
			"Mozilla/5.0 (Linux; Android 12; SM-A515F Build/SP1A.210812.016; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.230 Mobile Safari/537.36",
			Agent{OS: OSAndroid, OSVersion: "12", Device: "SM-A515F", Browser: WebView, BrowserVersion: "120.0.6099.230", Platform: Android}},
		{"facebook android",
			"Mozilla/5.0 (Linux; Android 14; Pixel 7 Pro Build/UQ1A.240205.004; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/121.0.6167.178 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/452.0.0.41.109;]",
			Agent{OS: OSAndroid, OSVersion: "14", Device: "Pixel 7 Pro", Browser: Facebook, BrowserVersion: "452.0.0.41.109", Platform: Android}},
		{"instagram android",
			"Mozilla/5.0 (Linux; Android 13; 2201116SG Build/TKQ1.221114.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/119.0.6045.163 Mobile Safari/537.36 Instagram 309.1.0.41.113 Android (33/13; 440dpi; 1080x2400; Xiaomi; 2201116SG; veux; qcom; en_GB; 541635863)",
			Agent{OS: OSAndroid, OSVersion: "13", Device: "2201116SG", Browser: Instagram, BrowserVersion: "309.1.0.41.113", Platform: Android}},
		{"tiktok android",
			"Mozilla/5.0 (Linux; Android 11; RMX2193 Build/RP1A.200720.011; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/104.0.5112.97 Mobile Safari/537.36 trill_290104 JsSdk/1.0 NetType/WIFI Channel/googleplay AppName/trill app_version/29.1.4 ByteLocale/en ByteFullLocale/en Region/IN BytedanceWebview/d8a21c6",
			Agent{OS: OSAndroid, OSVersion: "11", Device: "RMX2193", Browser: TikTok, Platform: Android}},
		{"firefox android",
			"Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0",
			Agent{OS: OSAndroid, OSVersion: "14", Browser: Firefox, BrowserVersion: "125.0", Platform: Android}},
		{"iphone safari",
			"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
			Agent{OS: OSIOS, OSVersion: "17.4.1", Device: "iPhone", Browser: Safari, BrowserVersion: "17.4.1", Platform: IOS}},
		{"iphone chrome",
			"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/125.0.6422.80 Mobile/15E148 Safari/604.1",
			Agent{OS: OSIOS, OSVersion: "17.5", Device: "iPhone", Browser: Chrome, BrowserVersion: "125.0.6422.80", Platform: IOS}},
		{"iphone instagram",
			"Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 318.0.7.22.109 (iPhone15,3; iOS 17_3; en_US; en; scale=3.00; 1290x2796; 562788245)",
			Agent{OS: OSIOS, OSVersion: "17.3", Device: "iPhone", Browser: Instagram, BrowserVersion: "318.0.7.22.109", Platform: IOS}},
		{"iphone facebook",
			"Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/440.0.0.33.116;FBBV/536165131;FBDV/iPhone14,5;FBMD/iPhone;FBSN/iOS;FBSV/16.6;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5]",
			Agent{OS: OSIOS, OSVersion: "16.6", Device: "iPhone", Browser: Facebook, BrowserVersion: "440.0.0.33.116", Platform: IOS}},
		{"iphone tiktok",
			"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 musical_ly_32.5.0 JsSdk/2.0 NetType/WIFI Channel/App Store ByteLocale/en Region/US",
			Agent{OS: OSIOS, OSVersion: "17.1.2", Device: "iPhone", Browser: TikTok, BrowserVersion: "32.5.0", Platform: IOS}},
		{"iphone firefox",
			"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/125.0 Mobile/15E148 Safari/605.1.15",
			Agent{OS: OSIOS, OSVersion: "17.4", Device: "iPhone", Browser: Firefox, BrowserVersion: "125.0", Platform: IOS}},
		{"iphone wkwebview",
			"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
			Agent{OS: OSIOS, OSVersion: "17.4", Device: "iPhone", Browser: WebView, Platform: IOS}},
		{"ipad mobile mode",
			"Mozilla/5.0 (iPad; CPU OS 16_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
			Agent{OS: OSIPadOS, OSVersion: "16.7", Device: "iPad", Browser: Safari, BrowserVersion: "16.6", Platform: IOS}},
		{"ipad desktop mode safari is a mac",
			"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
			Agent{OS: OSMacOS, OSVersion: "10.15.7", Browser: Safari, BrowserVersion: "17.4", Platform: Desktop}},
		{"ipad desktop mode with Mobile token",
			"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
			Agent{OS: OSIPadOS, Device: "iPad", Browser: Safari, BrowserVersion: "17.4", Platform: IOS}},
		{"mac chrome",
			"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
			Agent{OS: OSMacOS, OSVersion: "10.15.7", Browser: Chrome, BrowserVersion: "124.0.0.0", Platform: Desktop}},
		{"windows edge",
			"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
			Agent{OS: OSWindows, OSVersion: "10", Browser: Edge, BrowserVersion: "124.0.2478.80", Platform: Desktop}},
		{"windows firefox",
			"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101 Firefox/126.0",
			Agent{OS: OSWindows, OSVersion: "10", Browser: Firefox, BrowserVersion: "126.0", Platform: Desktop}},
		{"windows 7 opera",
			"Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/109.0.0.0 Safari/537.36 OPR/95.0.0.0",
			Agent{OS: OSWindows, OSVersion: "7", Browser: Opera, BrowserVersion: "95.0.0.0", Platform: Desktop}},
		{"linux firefox",
			"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
			Agent{OS: OSLinux, Browser: Firefox, BrowserVersion: "125.0", Platform: Desktop}},
		{"chromebook",
			"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
			Agent{OS: OSChromeOS, OSVersion: "14541.0.0", Browser: Chrome, BrowserVersion: "124.0.0.0", Platform: Desktop}},
		{"curl", "curl/8.5.0", Agent{OS: OSOther, Browser: BrowserOther, Platform: Desktop}},
		{"empty", "", Agent{OS: OSOther, Browser: BrowserOther, Platform: Desktop}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Parse(tc.ua); got != tc.want {
				t.Errorf("Parse(%q)\n got %+v\nwant %+v", tc.ua, got, tc.want)
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	uas := []string{
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 318.0.7.22.109 (iPhone15,3; iOS 17_3; en_US; en; scale=3.00; 1290x2796; 562788245)",
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = Parse(uas[i%len(uas)])
	}
}
