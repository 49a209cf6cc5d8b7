package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"log/slog"
	"strconv"
	"sync"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// WAL checkpointing for SQLite files.
//
// In WAL mode a commit appends pages to the -wal file; a checkpoint copies
// them back into the database file and, with synchronous=NORMAL, is the
// only step that waits for the disk (an fsync of the WAL and one of the
// database). SQLite's default runs it inside whichever commit pushes the
// WAL past 1000 pages, so one request in every hundred or so pays for the
// disk flushes of all of them. The store instead checkpoints from a
// goroutine of its own every checkpointInterval (PASSIVE: it never blocks
// readers or writers), and raises the in-commit threshold to
// fallbackAutoCheckpoint pages, which only a write burst the background
// cannot keep up with reaches. Durability is unchanged: synchronous=NORMAL
// never flushed at commit.
const (
	checkpointInterval     = 200 * time.Millisecond
	fallbackAutoCheckpoint = 10000 // pages; 40 MiB of WAL at 4 KiB pages
)

// sqliteConnector opens go-sqlite3 connections to one DSN and prepares
// each for background checkpointing. It is a driver.Connector, so no
// driver is registered globally.
type sqliteConnector struct {
	dsn string
	drv *sqlite3.SQLiteDriver
}

func newSQLiteConnector(dsn string) *sqliteConnector {
	return &sqliteConnector{dsn: dsn, drv: &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		// wal_autocheckpoint is a per-connection setting.
		_, err := c.Exec("PRAGMA wal_autocheckpoint = "+strconv.Itoa(fallbackAutoCheckpoint), nil)
		return err
	}}}
}

// Connect implements driver.Connector.
func (c *sqliteConnector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }

// Driver implements driver.Connector.
func (c *sqliteConnector) Driver() driver.Driver { return c.drv }

// checkpointer runs PASSIVE WAL checkpoints in the background until stop.
type checkpointer struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startCheckpointer checkpoints db's WAL every checkpointInterval. A failed
// checkpoint is logged and retried at the next tick; the in-commit fallback
// bounds the WAL meanwhile.
func startCheckpointer(db *sql.DB, log *slog.Logger) *checkpointer {
	ctx, cancel := context.WithCancel(context.Background())
	c := &checkpointer{cancel: cancel}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		t := time.NewTicker(checkpointInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			// The result row (busy, log pages, checkpointed pages) needs
			// no action: what a PASSIVE checkpoint leaves, the next takes.
			if _, err := db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)"); err != nil && ctx.Err() == nil {
				log.WarnContext(ctx, "store: background WAL checkpoint failed", "error", err)
			}
		}
	}()
	return c
}

// stop ends the background checkpoints and waits for the one under way.
func (c *checkpointer) stop() {
	c.cancel()
	c.wg.Wait()
}
