package redis

// ForceLegacy makes d claim as it does on Redis < 7 (SET NX, then GET), so
// the tests cover that path on a newer server.
func (d *Deduper) ForceLegacy() { d.legacy.Store(true) }
