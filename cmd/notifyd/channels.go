package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/channel/apns"
	"github.com/gonotify/notify/channel/email"
	"github.com/gonotify/notify/channel/fcm"
	"github.com/gonotify/notify/channel/sms"
	"github.com/gonotify/notify/unsubscribe"
)

// Paths the provider webhooks are mounted at, when their channel is
// configured.
const (
	twilioWebhookPath = "/v1/webhooks/twilio"
	sesWebhookPath    = "/v1/webhooks/ses"
)

// channelSet is the channels notifyd serves, and what to close at exit.
type channelSet struct {
	channels []notify.Channel
	console  []string // names of the channels that print instead of sending
	closers  []func() error
	// unsubscribe signs the email channel's one-click unsubscribe links;
	// nil when they are off.
	unsubscribe *unsubscribe.Signer
}

// close releases what the channels hold.
func (s *channelSet) close() {
	for _, c := range s.closers {
		_ = c()
	}
}

// buildChannels returns a real channel for every provider whose
// credentials cfg holds, and a console channel for each of the others
// (unless cfg.Console is false).
func buildChannels(ctx context.Context, cfg *Config, log *slog.Logger, stdout, stderr io.Writer) (*channelSet, error) {
	set := &channelSet{}
	var out *consoleOut
	console := func(name string) error {
		if !cfg.Console {
			return nil
		}
		if out == nil {
			var err error
			if out, err = openConsoleOut(cfg.ConsoleOut, log, stdout, stderr, set); err != nil {
				return err
			}
		}
		set.channels = append(set.channels, &consoleChannel{name: name, out: out})
		set.console = append(set.console, name)
		return nil
	}
	ok := func(err error) error {
		if err != nil {
			set.close()
		}
		return err
	}

	switch {
	case cfg.APNsKeyFile != "" || cfg.APNsCertFile != "":
		ch, err := apns.New(apns.Config{
			AuthKeyFile: cfg.APNsKeyFile, KeyID: cfg.APNsKeyID, TeamID: cfg.APNsTeamID,
			CertificateFile: cfg.APNsCertFile, CertificatePassword: cfg.APNsCertPassword,
			Topic: cfg.APNsTopic, Production: cfg.APNsProduction, Host: cfg.APNsHost,
		})
		if err != nil {
			return nil, ok(fmt.Errorf("apns channel (--apns-*): %w", err))
		}
		set.channels = append(set.channels, ch)
		set.closers = append(set.closers, ch.Close)
	default:
		if err := console(notify.ChannelAPNs); err != nil {
			return nil, ok(err)
		}
	}

	switch {
	case cfg.FCMCredentialsFile != "" || cfg.FCMProjectID != "":
		ch, err := fcm.New(ctx, fcm.Config{
			CredentialsFile: cfg.FCMCredentialsFile, ProjectID: cfg.FCMProjectID, Endpoint: cfg.FCMEndpoint, Logger: log,
		})
		if err != nil {
			return nil, ok(fmt.Errorf("fcm channel (--fcm-*): %w", err))
		}
		set.channels = append(set.channels, ch)
	default:
		if err := console(notify.ChannelFCM); err != nil {
			return nil, ok(err)
		}
	}

	switch {
	case cfg.TwilioAccountSID != "":
		ch, err := sms.New(sms.Config{
			AccountSID: cfg.TwilioAccountSID, AuthToken: cfg.TwilioAuthToken, From: cfg.TwilioFrom,
			MessagingServiceSID: cfg.TwilioMessagingServiceSID, StatusCallback: cfg.TwilioStatusCallback,
			BaseURL: cfg.TwilioBaseURL, DefaultRegion: cfg.SMSDefaultRegion, AllowLandlines: cfg.SMSAllowLandlines,
			Logger: log,
		})
		if err != nil {
			return nil, ok(fmt.Errorf("sms channel (--twilio-*): %w", err))
		}
		set.channels = append(set.channels, ch)
		set.closers = append(set.closers, ch.Close)
	default:
		if err := console(notify.ChannelSMS); err != nil {
			return nil, ok(err)
		}
	}

	switch {
	case cfg.SESFrom != "":
		var opts []func(*awsconfig.LoadOptions) error
		if cfg.SESRegion != "" {
			opts = append(opts, awsconfig.WithRegion(cfg.SESRegion))
		}
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return nil, ok(fmt.Errorf("email channel: load the AWS configuration (set --ses-region and AWS credentials): %w", err))
		}
		api := sesv2.NewFromConfig(awsCfg, func(o *sesv2.Options) {
			if cfg.SESEndpoint != "" {
				o.BaseEndpoint = aws.String(cfg.SESEndpoint)
			}
		})
		ecfg := email.Config{From: cfg.SESFrom, ConfigurationSet: cfg.SESConfigurationSet, Logger: log}
		if set.unsubscribe, err = openUnsubscriber(cfg); err != nil {
			return nil, ok(err)
		}
		if set.unsubscribe != nil {
			ecfg.Unsubscribe = set.unsubscribe.Unsubscribe
		}
		ch, err := email.New(api, ecfg)
		if err != nil {
			return nil, ok(fmt.Errorf("email channel (--ses-*): %w", err))
		}
		set.channels = append(set.channels, ch)
	default:
		if err := console(notify.ChannelEmail); err != nil {
			return nil, ok(err)
		}
	}

	if len(set.channels) == 0 {
		return nil, errors.New("no channel: --console=false and no provider has credentials (see --apns-*, --fcm-*, --twilio-*, --ses-*)")
	}
	return set, nil
}

// openConsoleOut opens where console channels write.
func openConsoleOut(where string, log *slog.Logger, stdout, stderr io.Writer, set *channelSet) (*consoleOut, error) {
	switch where {
	case "", "stdout":
		return &consoleOut{w: stdout}, nil
	case "stderr":
		return &consoleOut{w: stderr}, nil
	case "log":
		return &consoleOut{log: log}, nil
	}
	f, err := os.OpenFile(where, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("--console-out: %w", err)
	}
	set.closers = append(set.closers, f.Close)
	return &consoleOut{w: f}, nil
}

// webhooks returns the provider callbacks to mount, for the channels that
// are configured to receive them.
func webhooks(cfg *Config, d *notify.Dispatcher, log *slog.Logger) (map[string]http.Handler, error) {
	hooks := map[string]http.Handler{}
	if cfg.TwilioAccountSID != "" {
		if cfg.TwilioStatusCallback == "" {
			log.Info("sms delivery reports are off: set --twilio-status-callback to this server's public URL of " + twilioWebhookPath)
		} else {
			h, err := sms.NewStatusHandler(sms.StatusHandlerConfig{
				AuthToken: cfg.TwilioAuthToken, Recorder: d, PublicURL: cfg.TwilioStatusCallback, Logger: log,
			})
			if err != nil {
				return nil, fmt.Errorf("twilio webhook: %w", err)
			}
			hooks[twilioWebhookPath] = h
		}
	}
	if cfg.SESFrom != "" {
		if len(cfg.SESTopicARNs) == 0 {
			log.Info("email delivery reports are off: set --ses-topic-arns to the SNS topics of the configuration set's event destination, subscribed to " + sesWebhookPath)
		} else {
			h, err := email.NewEventHandler(email.EventHandlerConfig{Recorder: d, TopicARNs: cfg.SESTopicARNs, Logger: log})
			if err != nil {
				return nil, fmt.Errorf("ses webhook: %w", err)
			}
			hooks[sesWebhookPath] = h
		}
	}
	return hooks, nil
}
