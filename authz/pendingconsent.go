package authz

import (
	"crypto/subtle"
	"encoding/json"
	"slices"
	"time"

	"github.com/gorilla/sessions"
)

// maxPendingConsents bounds the consent screens one browser may have open
// at once (two tabs, an app that retried); the session cookie may hold
// fewer, and then the oldest make room.
const maxPendingConsents = 4

// pendingConsent is a consent screen shown and not yet answered: the
// one-time ID its form carries, the normalised authorization request it is
// for, and until when (Unix seconds) it may be answered.
type pendingConsent struct {
	ID    string `json:"i"`
	Query string `json:"q"`
	Exp   int64  `json:"e"`
}

// pendingConsents returns the consent screens pending in sess, oldest
// first, without those expired at now.
func pendingConsents(sess *sessions.Session, now time.Time) []pendingConsent {
	raw, _ := sess.Values[sessConsents].(string)
	var list []pendingConsent
	if raw == "" || json.Unmarshal([]byte(raw), &list) != nil {
		return nil
	}
	return slices.DeleteFunc(list, func(p pendingConsent) bool { return now.Unix() > p.Exp })
}

// setPendingConsents stores list in sess (to be saved by the caller).
func setPendingConsents(sess *sessions.Session, list []pendingConsent) {
	for _, k := range legacyConsentKeys {
		delete(sess.Values, k)
	}
	if len(list) == 0 {
		delete(sess.Values, sessConsents)
		return
	}
	b, _ := json.Marshal(list) // strings and numbers: cannot fail
	sess.Values[sessConsents] = string(b)
}

// takePendingConsent finds the pending consent whose ID is id, comparing
// in constant time, and returns it and list without it.
func takePendingConsent(list []pendingConsent, id string) (pendingConsent, []pendingConsent, bool) {
	for i, p := range list {
		if subtle.ConstantTimeCompare([]byte(p.ID), []byte(id)) == 1 {
			return p, slices.Delete(slices.Clone(list), i, i+1), true
		}
	}
	return pendingConsent{}, list, false
}
