package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"gorm.io/gorm"
)

// txKey is the context key under which BeginTX stores a *txState.
type txKey struct{}

// txState is a transaction carried by a context: the whole database
// transaction, or a savepoint inside one when BeginTX was nested.
type txState struct {
	db        *DB
	tx        *gorm.DB
	root      *txState
	savepoint string // empty for the outermost transaction

	// mu, in the root, guards done (of the root and of its savepoints)
	// and seq.
	mu   sync.Mutex
	done bool
	seq  int // savepoints begun in this root transaction
}

// errNoTx is returned by Commit and Rollback on a context without a
// transaction of this DB.
var errNoTx = errors.New("store: no transaction in context")

// txFrom returns the transaction of db that ctx carries, or nil.
func (db *DB) txFrom(ctx context.Context) *txState {
	st, _ := ctx.Value(txKey{}).(*txState)
	if st == nil || st.db != db {
		return nil
	}
	return st
}

// BeginTX returns a context that carries a new transaction; every Store
// method called with it (or a context derived from it) runs inside the
// transaction, as do statements on Gorm(ctx). The transaction ends with
// Commit or Rollback on the returned context, and is rolled back if ctx is
// cancelled first.
//
// Called with a context that already carries a transaction, BeginTX begins
// a savepoint inside it instead: Commit on the returned context releases the
// savepoint (its changes become part of the outer transaction, which still
// has to commit) and Rollback undoes only the changes made since BeginTX.
//
// A transaction is meant for one goroutine at a time. On SQLite it holds the
// database's write lock from its start, so keep it short.
func (db *DB) BeginTX(ctx context.Context) (context.Context, error) {
	if parent := db.txFrom(ctx); parent != nil {
		root := parent.root
		root.mu.Lock()
		if root.done {
			root.mu.Unlock()
			return ctx, fmt.Errorf("store: begin nested transaction: %w", sql.ErrTxDone)
		}
		root.seq++
		name := fmt.Sprintf("mcpauthz_sp%d", root.seq)
		root.mu.Unlock()
		if err := parent.tx.WithContext(ctx).SavePoint(name).Error; err != nil {
			return ctx, fmt.Errorf("store: begin nested transaction: %w", err)
		}
		st := &txState{db: db, tx: parent.tx, root: root, savepoint: name}
		return context.WithValue(ctx, txKey{}, st), nil
	}
	tx := db.gdb.WithContext(ctx).Begin()
	if tx.Error != nil {
		return ctx, fmt.Errorf("store: begin transaction: %w", tx.Error)
	}
	st := &txState{db: db, tx: tx}
	st.root = st
	return context.WithValue(ctx, txKey{}, st), nil
}

// Commit commits the transaction ctx carries (or releases its savepoint,
// see BeginTX). Committing twice, or after Rollback, fails with an error
// wrapping sql.ErrTxDone.
func (db *DB) Commit(ctx context.Context) error {
	st := db.txFrom(ctx)
	if st == nil {
		return fmt.Errorf("store: commit: %w", errNoTx)
	}
	if err := st.finish(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	var err error
	if st.savepoint != "" {
		err = st.tx.WithContext(ctx).Exec("RELEASE SAVEPOINT " + st.savepoint).Error
	} else {
		err = st.tx.Commit().Error
	}
	if err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// Rollback rolls back the transaction ctx carries (or the changes since its
// savepoint, see BeginTX). Rolling back twice, or after Commit, changes
// nothing and returns an error wrapping sql.ErrTxDone, so a deferred
// Rollback is harmless.
func (db *DB) Rollback(ctx context.Context) error {
	st := db.txFrom(ctx)
	if st == nil {
		return fmt.Errorf("store: rollback: %w", errNoTx)
	}
	if err := st.finish(); err != nil {
		return fmt.Errorf("store: rollback: %w", err)
	}
	var err error
	if st.savepoint != "" {
		tx := st.tx.WithContext(ctx)
		err = tx.RollbackTo(st.savepoint).Error
		if err == nil {
			err = tx.Exec("RELEASE SAVEPOINT " + st.savepoint).Error
		}
	} else {
		err = st.tx.Rollback().Error
	}
	if err != nil {
		return fmt.Errorf("store: rollback: %w", err)
	}
	return nil
}

// finish marks st done; it fails if st, or the transaction it is a
// savepoint of, is already done.
func (st *txState) finish() error {
	st.root.mu.Lock()
	defer st.root.mu.Unlock()
	if st.root.done || st.done {
		return sql.ErrTxDone
	}
	st.done = true
	return nil
}
