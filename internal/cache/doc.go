// Package cache is edgegate's edge cache: an RFC 9111 shared cache with
// RFC 9211 Cache-Status, request collapsing, identity-safe keys, a memory
// tier (otter, bounded in bytes) and an optional disk tier that survives a
// restart, and purges by URL, prefix and tag behind the Purger interface.
//
// The gateway adapts it to its pipeline (internal/gateway/stage_cache.go):
// Cache.Serve answers a request from storage or through an Origin function,
// and runs a Deliver hook on every response before its header is written.
package cache
