package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mcpauthz/mcpauthz/store"
)

func testAttempts(t *testing.T, open func(t *testing.T) store.Store) {
	add := func(t *testing.T, s store.Store, keys []string, when, expires time.Time) []int64 {
		t.Helper()
		ids, err := s.AddAttempts(t.Context(), keys, when, expires, false)
		must(t, "AddAttempts", err)
		if len(ids) != len(keys) {
			t.Fatalf("AddAttempts(%q) returned %d IDs", keys, len(ids))
		}
		return ids
	}
	recent := func(t *testing.T, s store.Store, key string, since time.Time, limit int, want ...time.Time) {
		t.Helper()
		got, err := s.RecentAttempts(t.Context(), key, since, limit)
		must(t, "RecentAttempts", err)
		if len(got) != len(want) {
			t.Fatalf("RecentAttempts(%q, limit %d) = %v, want %v", key, limit, got, want)
		}
		for i := range want {
			if !got[i].At.Equal(want[i]) || got[i].At.Location() != time.UTC || got[i].Pending {
				t.Errorf("RecentAttempts(%q)[%d] = %v, want %v in UTC", key, i, got[i], want[i])
			}
		}
	}
	t.Run("NewestFirstSinceAndLimit", func(t *testing.T) {
		s := open(t)
		for i := range 5 {
			when := at(time.Duration(i) * time.Minute).In(elsewhere())
			add(t, s, []string{"user:alice", "ip:192.0.2.1"}, when, when.Add(time.Hour))
		}
		add(t, s, []string{"user:bob"}, at(0), at(time.Hour))
		recent(t, s, "user:alice", at(-time.Second), 10, at(4*time.Minute), at(3*time.Minute), at(2*time.Minute), at(time.Minute), at(0))
		recent(t, s, "user:alice", at(-time.Second), 2, at(4*time.Minute), at(3*time.Minute))
		// After since, strictly.
		recent(t, s, "user:alice", at(2*time.Minute), 10, at(4*time.Minute), at(3*time.Minute))
		recent(t, s, "ip:192.0.2.1", at(3*time.Minute), 10, at(4*time.Minute))
		recent(t, s, "user:bob", at(-time.Second), 10, at(0))
		recent(t, s, "user:carol", at(-time.Second), 10)
		recent(t, s, "user:alice", at(-time.Second), 0)
		// Keys are opaque: no prefix or case matching.
		recent(t, s, "user:ALICE", at(-time.Second), 10)
		recent(t, s, "user:", at(-time.Second), 10)
	})
	t.Run("SameKeyTwiceCountsTwice", func(t *testing.T) {
		s := open(t)
		if ids := add(t, s, []string{"k", "k"}, at(0), at(time.Hour)); ids[0] == ids[1] {
			t.Errorf("two attempts share ID %d", ids[0])
		}
		add(t, s, nil, at(0), at(time.Hour))
		recent(t, s, "k", at(-time.Second), 10, at(0), at(0))
	})
	t.Run("Clear", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		add(t, s, []string{"a", "b", "c"}, at(0), at(time.Hour))
		must(t, "ClearAttempts", s.ClearAttempts(ctx, "a", "b", "nobody"))
		must(t, "ClearAttempts none", s.ClearAttempts(ctx))
		recent(t, s, "a", at(-time.Second), 10)
		recent(t, s, "b", at(-time.Second), 10)
		recent(t, s, "c", at(-time.Second), 10, at(0))
	})
	t.Run("DeleteByID", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		first := add(t, s, []string{"user:x", "ip:y"}, at(0), at(time.Hour))
		second := add(t, s, []string{"user:x", "ip:y"}, at(time.Minute), at(time.Hour))
		// The second attempt against ip:y, and an ID nobody has.
		must(t, "DeleteAttempts", s.DeleteAttempts(ctx, second[1], 1<<40))
		must(t, "DeleteAttempts none", s.DeleteAttempts(ctx))
		recent(t, s, "user:x", at(-time.Second), 10, at(time.Minute), at(0))
		recent(t, s, "ip:y", at(-time.Second), 10, at(0))
		must(t, "DeleteAttempts", s.DeleteAttempts(ctx, first...))
		recent(t, s, "user:x", at(-time.Second), 10, at(time.Minute))
		recent(t, s, "ip:y", at(-time.Second), 10)
	})
	t.Run("PendingAndSettled", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		ids, err := s.AddAttempts(ctx, []string{"user:p", "ip:p"}, at(0), at(time.Hour), true)
		must(t, "AddAttempts pending", err)
		add(t, s, []string{"user:p"}, at(time.Minute), at(time.Hour))
		got, err := s.RecentAttempts(ctx, "user:p", at(-time.Second), 10)
		must(t, "RecentAttempts", err)
		if len(got) != 2 || got[0].Pending || !got[1].Pending || !got[1].At.Equal(at(0)) {
			t.Fatalf("RecentAttempts = %+v, want a settled attempt and then a pending one", got)
		}
		must(t, "SettleAttempts", s.SettleAttempts(ctx, ids[0], 1<<40))
		must(t, "SettleAttempts none", s.SettleAttempts(ctx))
		recent(t, s, "user:p", at(-time.Second), 10, at(time.Minute), at(0))
		if got, _ := s.RecentAttempts(ctx, "ip:p", at(-time.Second), 10); len(got) != 1 || !got[0].Pending {
			t.Errorf("settling one attempt settled another: %+v", got)
		}
	})
	t.Run("DeleteExpired", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		add(t, s, []string{"gone"}, at(0), at(time.Minute))
		add(t, s, []string{"kept"}, at(0), at(time.Hour))
		n, err := s.DeleteExpired(ctx, at(30*time.Minute))
		must(t, "DeleteExpired", err)
		if n != 1 {
			t.Errorf("DeleteExpired = %d, want 1", n)
		}
		recent(t, s, "gone", at(-time.Second), 10)
		recent(t, s, "kept", at(-time.Second), 10, at(0))
	})
	t.Run("Concurrent", func(t *testing.T) {
		// Every attempt of concurrent callers (other instances) counts.
		s := open(t)
		errs := race(t.Context(), racers, func(ctx context.Context, i int) error {
			_, err := s.AddAttempts(ctx, []string{"ip:198.51.100.7"}, at(time.Duration(i)*time.Second), at(time.Hour), false)
			return err
		})
		for i, err := range errs {
			must(t, fmt.Sprintf("AddAttempts %d", i), err)
		}
		got, err := s.RecentAttempts(t.Context(), "ip:198.51.100.7", at(-time.Second), 1000)
		must(t, "RecentAttempts", err)
		if len(got) != racers {
			t.Errorf("%d concurrent attempts recorded as %d", racers, len(got))
		}
	})
}
