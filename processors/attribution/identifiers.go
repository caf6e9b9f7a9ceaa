package attribution

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hazelnut-mmp/hazelnut/codecs"
)

// deviceData are the device_data fields attribution reads; the rest stays
// in the install record.
type deviceData struct {
	GAID         any `json:"gaid"`
	IDFA         any `json:"idfa"`
	IDFV         any `json:"idfv"`
	ATTStatus    any `json:"att_status"`
	InstallRef   any `json:"install_ref"`
	LrIaID       any `json:"lr_ia_id"`
	InstallBegin any `json:"install_ref_installBeginTimestampSeconds"`
}

// extract reads the identifiers of an install. device_data is an open
// object whose fields SDKs send as strings or numbers; unreadable fields
// are ignored (the gateway accepted the request). Every field is decoded as
// any, so only device_data that is not a JSON object is not read at all.
func extract(in *codecs.Install) codecs.Identifiers {
	var dd deviceData
	if len(in.DeviceData) > 0 {
		if d, err := codecs.Decode[deviceData](in.DeviceData); err == nil {
			dd = *d
		}
	}
	var id codecs.Identifiers
	seen := map[string]bool{}
	for _, v := range []any{dd.GAID, dd.IDFA, dd.IDFV} {
		s := strings.ToLower(strings.TrimSpace(text(v)))
		if usableDeviceID(s) && !seen[s] {
			seen[s] = true
			id.Devices = append(id.Devices, s)
		}
	}
	id.ClickID = strings.TrimSpace(text(dd.LrIaID))
	if id.ClickID == "" {
		id.ClickID = referrerClickID(text(dd.InstallRef))
	}
	id.IP = in.ClientIP
	id.ATTAuthorized = text(dd.ATTStatus) == "3" || strings.EqualFold(text(dd.ATTStatus), "authorized")
	if secs, err := strconv.ParseFloat(text(dd.InstallBegin), 64); err == nil && secs > 0 {
		id.InstallBegin = time.Unix(int64(secs), 0).UTC()
	}
	return id
}

// usableDeviceID refuses empty and all-zero ids (limited ad tracking).
func usableDeviceID(s string) bool {
	return strings.Trim(s, "0-") != ""
}

// referrerClickID finds lr_ia_id in a Play install referrer, a query
// string (sometimes URL-encoded once more).
func referrerClickID(ref string) string {
	for range 2 {
		if ref == "" {
			return ""
		}
		q, err := url.ParseQuery(strings.TrimPrefix(ref, "?"))
		if err == nil {
			if v := strings.TrimSpace(q.Get("lr_ia_id")); v != "" {
				return v
			}
		}
		dec, err := url.QueryUnescape(ref)
		if err != nil || dec == ref {
			return ""
		}
		ref = dec
	}
	return ""
}

// text is a JSON scalar as a string.
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}
