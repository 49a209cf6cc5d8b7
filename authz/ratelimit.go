package authz

import (
	"fmt"
	"math"
	"net/http"
	"time"
)

// registrationWindow is the window of the per-IP registration limit.
const registrationWindow = time.Minute

// limitRegistrations caps dynamic registrations per client IP
// (Registration.MaxPerMinute), so that a flood cannot fill the clients
// table. The limit is generous: hosted clients such as ChatGPT register
// once per connection from a few shared addresses. Over it the answer is
// 429 with Retry-After and an RFC 7591-shaped error body.
func (s *Server) limitRegistrations(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || s.cfg.Registration.MaxPerMinute < 0 {
			h(w, r)
			return
		}
		ctx := r.Context()
		// Every attempt counts, not only failures; counted before it is
		// served, so that registrations sent at once cannot all pass.
		key := "register:" + throttleAddr(s.clientIP(r))
		res, ok, retry, err := s.regLimit.Reserve(ctx, key)
		if err != nil {
			s.log.ErrorContext(ctx, "registration rate limit: count", "error", err)
			writeJSONError(w, newError(http.StatusInternalServerError, codeServerError, "the registration could not be counted; try again"))
			return
		}
		if !ok {
			secs := int(math.Ceil(retry.Seconds()))
			w.Header().Set("Retry-After", fmt.Sprint(secs))
			s.log.WarnContext(r.Context(), "registration rate limit", "ip", s.clientIP(r))
			writeJSONError(w, newError(http.StatusTooManyRequests, codeInvalidRequest, "too many registrations from this address; retry in %d seconds", secs))
			return
		}
		if err := res.Settle(ctx); err != nil {
			// Still counted, as pending; it counts as settled later.
			s.log.ErrorContext(ctx, "registration rate limit: count", "error", err)
		}
		h(w, r)
	}
}
