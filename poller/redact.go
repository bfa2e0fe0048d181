package poller

import (
	"net/url"
	"strings"
)

// redactURL hides the secret of a URL with credentials, for logs, errors
// and the state file: the password (https://user:secret@host/x.git becomes
// https://user:xxxxx@host/x.git), or over HTTP a user name alone, which is
// where tokens usually go (https://TOKEN@host/x.git becomes
// https://xxxxx@host/x.git). ssh://git@host/x.git and URLs without
// credentials come back unchanged.
func redactURL(raw string) string {
	secret := urlSecret(raw)
	if secret == "" {
		return raw
	}
	u, _ := url.Parse(raw)
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	} else {
		u.User = url.User("xxxxx")
	}
	return u.String()
}

// urlSecret returns the secret in a URL's user info (see redactURL), or "".
func urlSecret(raw string) string {
	if !strings.Contains(raw, "://") {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return ""
	}
	if pw, ok := u.User.Password(); ok {
		return pw
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https", "ftp", "ftps":
		return u.User.Username()
	}
	return ""
}
