package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifyhttp"
	"github.com/gonotify/notify/track"
	"github.com/gonotify/notify/unsubscribe"
)

// newLogger returns the JSON logger of cfg.LogLevel, writing to w, that
// adds each record's request ID.
func newLogger(level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(contextHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l, ReplaceAttr: durationText})}), nil
}

// durationText writes durations as text ("1.5s"), not nanoseconds.
func durationText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

// newMetrics returns a MeterProvider whose metrics /metrics serves in the
// Prometheus text format, with the Go runtime's and the process's.
func newMetrics() (*sdkmetric.MeterProvider, http.Handler, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	return mp, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), nil
}

// serve runs the server until ctx ends (SIGTERM, SIGINT), then shuts down
// gracefully: it stops accepting, lets in-flight requests finish (up to
// cfg.ShutdownTimeout), then stops the Dispatcher's Run and waits for it.
// Messages for people go to stderr, console channels to stdout (see
// --console-out).
func serve(ctx context.Context, cfg *Config, stdout, stderr io.Writer) error {
	log, err := newLogger(cfg.LogLevel, stderr)
	if err != nil {
		return err
	}
	mp, metricsHandler, err := newMetrics()
	if err != nil {
		return err
	}
	defer func() { _ = mp.Shutdown(context.WithoutCancel(ctx)) }()
	hm, err := newHTTPMetrics(mp)
	if err != nil {
		return err
	}

	b, err := openBackends(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer b.close()
	if !b.durable {
		log.Warn("NOTHING IS DURABLE (--memory): the queue, the notification log, contacts, dedup claims and API keys are in this process's memory; " +
			"a restart or a crash loses every notification not yet sent. Use --sqlite PATH (one machine) or --postgres-url.")
	}
	if b.keysInMemory {
		if err := bootstrapKeys(ctx, cfg, b.keys, stderr); err != nil {
			return err
		}
	} else if cfg.KeyFile != "" || cfg.BootstrapKey != "" {
		log.Warn("--key-file and NOTIFYD_BOOTSTRAP_KEY are for the embedded mode and are ignored: the keys are in the durable key store; make them with: notifyd keys create")
	}

	chs, err := buildChannels(ctx, cfg, log, stdout, stderr)
	if err != nil {
		return err
	}
	defer chs.close()
	for _, name := range chs.console {
		log.Warn("console channel: "+name+" deliveries are printed, not sent; configure the provider's credentials to send them",
			slog.String("channel", name), slog.String("out", cfg.ConsoleOut))
	}

	signer, err := openSigner(cfg)
	if err != nil {
		return err
	}
	renderer, err := loadTemplates(cfg, signer)
	if err != nil {
		return err
	}
	channels := chs.channels
	if signer != nil {
		channels = make([]notify.Channel, len(chs.channels))
		for i, ch := range chs.channels {
			channels[i] = signer.Wrap(ch) // each delivery's own signed links
		}
	}
	categories, err := loadCategories(cfg)
	if err != nil {
		return err
	}
	var zone *time.Location
	if cfg.DefaultTimeZone != "" {
		if zone, err = time.LoadLocation(cfg.DefaultTimeZone); err != nil {
			return fmt.Errorf("--default-time-zone %q: not an IANA time zone name (say \"Europe/Lisbon\"): %w", cfg.DefaultTimeZone, err)
		}
	}
	d, err := notify.New(notify.Config{
		Queue: b.queue, Store: b.store, Deduper: b.dedup, Limiter: b.limiter, Renderer: renderer,
		Channels: channels, DefaultWorkers: cfg.Workers, SendTimeout: cfg.SendTimeout, QueuePrefix: cfg.QueuePrefix,
		Categories: categories, DefaultTimeZone: zone, Logger: log, MeterProvider: mp,
	})
	if err != nil {
		return err
	}
	if b.sqs != nil {
		// SQS has no ping: ask for the counts of one channel's queue.
		queue := d.QueueName(chs.channels[0].Name())
		b.pings["sqs"] = func(ctx context.Context) error {
			_, err := b.sqs.Stats(ctx, queue)
			return err
		}
	}
	hooks, err := webhooks(cfg, d, log)
	if err != nil {
		return err
	}
	var tracker *track.Handler
	if signer != nil {
		if tracker, err = track.NewHandler(track.HandlerConfig{Signer: signer, Recorder: d, Logger: log}); err != nil {
			return err
		}
		hooks["/t/"] = tracker // clicks and opens sign themselves
	}
	if chs.unsubscribe != nil {
		uh, err := unsubscribe.NewHandler(unsubscribe.HandlerConfig{Signer: chs.unsubscribe, Preferences: d, Logger: log})
		if err != nil {
			return err
		}
		hooks[unsubscribe.Path] = uh // links sign themselves
	} else if cfg.UnsubscribeBaseURL != "" || cfg.UnsubscribeKeys != "" {
		if _, err := openUnsubscriber(cfg); err != nil {
			return err
		}
		log.Warn("--unsubscribe-base-url: no SES email channel (--ses-from), so no email carries unsubscribe links")
	}
	api, err := notifyhttp.New(notifyhttp.Config{
		Dispatcher: d, Keys: b.keys, Replay: b.dedup, Limiter: b.limiter, Webhooks: hooks,
		Ready: b.ready, MaxBodyBytes: cfg.MaxBodyBytes, Logger: log,
	})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metricsHandler)
	mux.Handle("/", api)
	if cfg.OperatorConsole {
		oc, err := newOperatorConsole(cfg, d, b.keys, log)
		if err != nil {
			return err
		}
		mux.Handle(consolePath+"/", oc)
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	srv := &http.Server{
		Handler:           withRequestID(accessLog(log, hm, mux)),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// Requests' contexts do not end with ctx: in-flight requests
		// finish during the shutdown.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}

	// The Dispatcher's Run has its own context, canceled only once the
	// HTTP server has drained.
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	runDone := make(chan error, 1)
	go func() { runDone <- d.Run(runCtx) }()
	serveDone := make(chan error, 1)
	go func() { serveDone <- srv.Serve(ln) }()

	hookPaths := make([]string, 0, len(hooks))
	for p := range hooks {
		hookPaths = append(hookPaths, p)
	}
	sort.Strings(hookPaths)
	roles := make([]any, 0, len(b.roles))
	for _, r := range sortedKeys(b.roles) {
		roles = append(roles, slog.String(r, b.roles[r]))
	}
	log.Info("listening", slog.String("addr", ln.Addr().String()), slog.Group("backends", roles...),
		slog.String("channels", channelNames(chs.channels)), slog.String("webhooks", strings.Join(hookPaths, ",")))

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down: draining in-flight requests", slog.Duration("timeout", cfg.ShutdownTimeout))
	case serveErr = <-serveDone:
		log.Error("the HTTP server stopped", slog.Any("error", serveErr))
	}
	shCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shCtx); err != nil {
		log.Warn("in-flight requests did not finish in time; closing them", slog.Any("error", err))
		_ = srv.Close()
	}
	if tracker != nil {
		// Write the clicks and opens still held before the process ends.
		if err := tracker.Close(shCtx); err != nil {
			log.Error("tracking: some clicks or opens were not recorded", slog.Any("error", err))
		}
	}
	log.Info("requests drained; stopping deliveries")
	stopRun()
	if err := <-runDone; err != nil {
		log.Error("dispatcher", slog.Any("error", err))
	}
	log.Info("stopped")
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return nil
}

// channelNames lists the channels' names.
func channelNames(chs []notify.Channel) string {
	names := make([]string, len(chs))
	for i, c := range chs {
		names[i] = c.Name()
	}
	return strings.Join(names, ",")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
