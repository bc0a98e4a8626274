// Package auth holds Strata's security logic that does not depend on where
// it is served or stored: Kafka's ACL model and the authorizer that
// decides on it (acl.go), TLS server configurations that reload their
// certificates (tls.go), a development certificate authority (certs.go),
// SCRAM credentials (scram.go), the server side of a SCRAM exchange
// (scram_server.go) and OAUTHBEARER token validation
// (oauth.go).
//
// The Kafka listener (package ingest) calls the authorizer through the
// small interfaces it defines; package meta stores ACL bindings and SCRAM
// credentials in etcd; package server wires them together. auth touches no
// etcd and no listener.
package auth
