package script

import "strings"

// DeviceFromUA fills request.device from a User-Agent with a small rule
// set (Akamai's Device Characterization uses a commercial database; these
// rules cover what scripts usually branch on):
//
//   - iPad, or Android without "Mobile", or "Tablet": tablet (isTablet,
//     isWireless; isMobile false).
//   - iPhone/iPod, Android with "Mobile", Windows Phone, "Mobi": mobile
//     (isMobile, isWireless).
//   - anything else: desktop (all three false).
//
// os is iOS, Android, Windows, Mac OS X, Linux or ChromeOS when seen;
// brandName is Apple, Samsung, Google, Microsoft or Huawei for mobile and
// tablet devices when the agent names them; mobileBrowser is Safari,
// Chrome, Firefox, Samsung Browser, Edge or Opera on mobile and tablet
// devices. Cookie and AJAX support are reported for every browser (a
// User-Agent starting with "Mozilla/"). An empty User-Agent gives nil
// (device is undefined).
func DeviceFromUA(ua string) *Device {
	if strings.TrimSpace(ua) == "" {
		return nil
	}
	has := func(s string) bool { return strings.Contains(ua, s) }
	yes, no := true, false
	d := &Device{IsMobile: &no, IsTablet: &no, IsWireless: &no}
	android := has("Android")
	switch {
	case has("iPad") || (android && !has("Mobile")) || has("Tablet"):
		d.IsTablet, d.IsWireless = &yes, &yes
	case has("iPhone") || has("iPod") || (android && has("Mobile")) || has("Windows Phone") || has("Mobi"):
		d.IsMobile, d.IsWireless = &yes, &yes
	}
	switch {
	case has("iPhone") || has("iPad") || has("iPod"):
		d.OS = "iOS"
	case android:
		d.OS = "Android"
	case has("Windows"):
		d.OS = "Windows"
	case has("CrOS"):
		d.OS = "ChromeOS"
	case has("Mac OS X") || has("Macintosh"):
		d.OS = "Mac OS X"
	case has("Linux"):
		d.OS = "Linux"
	}
	if *d.IsMobile || *d.IsTablet {
		switch {
		case has("iPhone") || has("iPad") || has("iPod"):
			d.BrandName = "Apple"
		case has("SM-") || has("Samsung"):
			d.BrandName = "Samsung"
		case has("Pixel"):
			d.BrandName = "Google"
		case has("Windows Phone"):
			d.BrandName = "Microsoft"
		case has("HUAWEI") || has("Huawei"):
			d.BrandName = "Huawei"
		}
		switch {
		case has("SamsungBrowser"):
			d.MobileBrowser = "Samsung Browser"
		case has("EdgA") || has("EdgiOS") || has("Edge/"):
			d.MobileBrowser = "Edge"
		case has("OPR") || has("Opera"):
			d.MobileBrowser = "Opera"
		case has("Firefox") || has("FxiOS"):
			d.MobileBrowser = "Firefox"
		case has("CriOS") || has("Chrome"):
			d.MobileBrowser = "Chrome"
		case has("Safari"):
			d.MobileBrowser = "Safari"
		}
	}
	if strings.HasPrefix(ua, "Mozilla/") {
		d.HasCookieSupport, d.HasAJAXSupport = &yes, &yes
	}
	return d
}
