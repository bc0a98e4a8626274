package ingest

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestControllerIDListed: the controller id Metadata and DescribeCluster
// give is always a broker they list. kafka-go's Conn.Controller sends
// Metadata v1 with an empty topic list and dials the listed broker with
// that id; while no controller was elected yet (-1, just after startup)
// it found none and dialed ":0". Every broker serves the admin APIs, so
// the answering broker names itself then, as a KRaft broker names a live
// broker.
func TestControllerIDListed(t *testing.T) {
	for _, tc := range []struct {
		name       string
		controller int32
		want       int32
	}{
		{name: "elected and listed", controller: 2, want: 2},
		{name: "none elected yet", controller: -1, want: 1},
		{name: "elected but not registered (not listed)", controller: 7, want: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.controller = tc.controller
			s := NewServer(Config{Logger: quiet}, f.backend(false))
			defer s.Close()
			for _, v := range []int16{1, 12} {
				md := kmsg.NewPtrMetadataRequest()
				md.Version, md.Topics = v, []kmsg.MetadataRequestTopic{} // kafka-go: empty, not null
				resp, err := exchange(t, s, md)
				if err != nil {
					t.Fatal(err)
				}
				mr := resp.(*kmsg.MetadataResponse)
				if mr.ControllerID != tc.want {
					t.Errorf("Metadata v%d: controller %d, want %d", v, mr.ControllerID, tc.want)
				}
				if len(mr.Topics) != 0 {
					t.Errorf("Metadata v%d with an empty topic list: %d topics, want none", v, len(mr.Topics))
				}
			}
			dc := kmsg.NewPtrDescribeClusterRequest()
			dc.Version, dc.EndpointType = 1, 1
			resp, err := exchange(t, s, dc)
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.(*kmsg.DescribeClusterResponse).ControllerID; got != tc.want {
				t.Errorf("DescribeCluster: controller %d, want %d", got, tc.want)
			}
		})
	}
}
