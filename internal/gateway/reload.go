package gateway

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/fsnotify/fsnotify"
)

// Reloader reloads the gateway's configuration file when it changes on
// disk or when asked (SIGHUP). An invalid file keeps the configuration in
// service and is logged with every error found.
type Reloader struct {
	Path    string
	Gateway *Gateway
	// Debounce gathers the burst of events an editor's save makes into one
	// reload.
	Debounce time.Duration
}

// Reload loads and applies the file once. It returns the load or apply
// error; ErrUnchanged when the content is the same.
func (r *Reloader) Reload() error {
	g := r.Gateway
	cfg, err := config.Load(r.Path)
	if err != nil {
		g.metrics.Reloads.WithLabelValues("error").Inc()
		g.log.Error("configuration rejected; keeping the active one", "file", r.Path, "err", err.Error())
		return err
	}
	err = g.Apply(cfg)
	switch {
	case errors.Is(err, ErrUnchanged):
		g.log.Debug("configuration unchanged", "file", r.Path)
	case err != nil:
		g.log.Error("configuration rejected; keeping the active one", "file", r.Path, "err", err.Error())
	}
	return err
}

// Run watches the file (through its directory, since editors and
// Kubernetes ConfigMaps replace files by rename) and hup, and reloads until
// ctx is done.
func (r *Reloader) Run(ctx context.Context, hup <-chan os.Signal) error {
	debounce := r.Debounce
	if debounce <= 0 {
		debounce = 200 * time.Millisecond
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	abs, err := filepath.Abs(r.Path)
	if err != nil {
		return err
	}
	if err := w.Add(filepath.Dir(abs)); err != nil {
		return err
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			r.Gateway.log.Info("SIGHUP: reloading configuration", "file", r.Path)
			_ = r.Reload()
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if filepath.Clean(ev.Name) == abs || filepath.Base(ev.Name) == "..data" {
				timer.Reset(debounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			r.Gateway.log.Warn("config watcher", "err", err)
		case <-timer.C:
			_ = r.Reload()
		}
	}
}
