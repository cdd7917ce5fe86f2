// Package e2e holds end-to-end tests of the push channels (channel/apns,
// channel/fcm) driven through a notify.Dispatcher with the memory backends,
// against the local APNs and FCM servers of apnstest and fcmtest. It has no
// API; it lives apart so that the channel packages import no backend.
package e2e
