package testenv

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelGroup is a master, a replica and a sentinel that fails the master
// over to the replica half a second after it stops answering.
type SentinelGroup struct {
	Master, Replica, Sentinel *RedisServer
	Name                      string
}

// StartSentinelGroup starts a Sentinel group of its own for t.
func StartSentinelGroup(t testing.TB) *SentinelGroup {
	t.Helper()
	g := &SentinelGroup{Name: "authzgw"}
	g.Master = StartRedis(t)
	host, port := splitAddr(g.Master.Addr)
	g.Replica = StartRedis(t, "--replicaof", host, port)
	conf := fmt.Sprintf("sentinel monitor %[1]s %[2]s %[3]s 1\n"+
		"sentinel down-after-milliseconds %[1]s 500\n"+
		"sentinel failover-timeout %[1]s 2000\n", g.Name, host, port)
	g.Sentinel = StartRedis(t, "--sentinel", conf)
	g.waitReplicated(t)
	return g
}

// waitReplicated waits until the replica has synchronized with the master.
func (g *SentinelGroup) waitReplicated(t testing.TB) {
	t.Helper()
	client := NewRedisClient(t, g.Replica.Addr)
	defer client.Close()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		info, err := client.Info(context.Background(), "replication").Result()
		if err == nil && strings.Contains(info, "master_link_status:up") {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("testenv: replica %s never synchronized", g.Replica.Addr)
}

// WaitPromoted waits until the sentinel names the replica as master.
func (g *SentinelGroup) WaitPromoted(t testing.TB) {
	t.Helper()
	client := redis.NewSentinelClient(&redis.Options{Addr: g.Sentinel.Addr})
	defer client.Close()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		addr, err := client.GetMasterAddrByName(context.Background(), g.Name).Result()
		if err == nil && strings.Join(addr, ":") == g.Replica.Addr {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("testenv: sentinel did not promote %s", g.Replica.Addr)
}

// Cluster is a Redis Cluster of three masters, each with one replica.
type Cluster struct {
	Nodes []*RedisServer
}

// StartCluster starts a cluster of its own for t; a master that stops
// answering is replaced by its replica after about a second.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	c := &Cluster{}
	addrs := make([]string, 6)
	for i := range addrs {
		c.Nodes = append(c.Nodes, StartRedis(t, "--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1000",
			"--repl-diskless-sync-delay", "0"))
		addrs[i] = c.Nodes[i].Addr
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	out, err := exec.Command("redis-cli", append(args, "--cluster-replicas", "1", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		t.Fatalf("testenv: redis-cli --cluster create: %v\n%s", err, out)
	}
	c.WaitHealthy(t)
	c.waitReplicasSynced(t)
	return c
}

// waitReplicasSynced waits until every replica has finished its first
// sync with its master: a replica that never synced does not take over
// (the cluster stays failed when its master is killed early).
func (c *Cluster) waitReplicasSynced(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range c.Nodes {
		client := NewRedisClient(t, n.Addr)
		for {
			info, err := client.Info(context.Background(), "replication").Result()
			if err == nil && (strings.Contains(info, "role:master") || strings.Contains(info, "master_link_status:up")) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("testenv: replica %s never synced: %v %s", n.Addr, err, info)
			}
			time.Sleep(20 * time.Millisecond)
		}
		_ = client.Close()
	}
}

// Addrs are the seed addresses of every node.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// WaitHealthy waits until every live node reports the cluster ok.
func (c *Cluster) WaitHealthy(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range c.Nodes {
		if n.cmd.ProcessState != nil {
			continue // killed
		}
		client := NewRedisClient(t, n.Addr)
		for {
			info, err := client.ClusterInfo(context.Background()).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("testenv: cluster node %s not ok: %v %s", n.Addr, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
		_ = client.Close()
	}
}

// MasterOf returns the node that is master of key's slot.
func (c *Cluster) MasterOf(t testing.TB, key string) *RedisServer {
	t.Helper()
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	defer client.Close()
	slot, err := client.ClusterKeySlot(context.Background(), key).Result()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	slots, err := client.ClusterSlots(context.Background()).Result()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	for _, s := range slots {
		if int64(s.Start) <= slot && slot <= int64(s.End) {
			for _, n := range c.Nodes {
				if n.Addr == s.Nodes[0].Addr {
					return n
				}
			}
		}
	}
	t.Fatalf("testenv: no master for slot %d", slot)
	return nil
}

func splitAddr(addr string) (host, port string) {
	i := strings.LastIndexByte(addr, ':')
	return addr[:i], addr[i+1:]
}
