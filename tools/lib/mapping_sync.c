// SPDX-License-Identifier: Apache-2.0
/* The host agent's half of the VPC mapping service (mapping_sync.h). */
#include "tools/lib/mapping_sync.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tools/lib/card_ctl.h"
#include "tools/lib/fleet.h"
#include "tools/lib/json_field.h"
#include "tools/lib/log.h"
#include "tools/lib/sleep_ms.h"

#define TICK_MS 1000

/* Whether @s is "A.B.C.D:PORT" with a port of 1..65535. */
static bool endpoint_valid(const char *s)
{
	char addr[16];
	const char *colon = strchr(s, ':');
	struct in_addr a;
	char *end;
	unsigned long port;

	if (!colon || (size_t)(colon - s) >= sizeof(addr))
		return false;
	memcpy(addr, s, (size_t)(colon - s));
	addr[colon - s] = 0;
	port = strtoul(colon + 1, &end, 10);
	return inet_pton(AF_INET, addr, &a) == 1 && !*end && port && port <= 65535;
}

/* The address @key (under @v's prefix) names, into @ip; false if it names none. */
static bool key_ip(const struct mapsync_vni *v, const char *key, char ip[16])
{
	const char *at = key + strlen(v->prefix);
	struct in_addr a;

	if (strncmp(key, v->prefix, strlen(v->prefix)) || strlen(at) >= 16 ||
	    inet_pton(AF_INET, at, &a) != 1)
		return false;
	snprintf(ip, 16, "%s", at);
	return true;
}

/*
 * A mapping/<vni>/<ip> value as {"underlay","encap"} for the table; NULL
 * (logged once) when it is not one a card would take.  Another host wrote
 * it: it is checked, not trusted.
 */
static json_object *entry_parse(const char *key, const char *value)
{
	json_object *o = json_tokener_parse(value), *u, *enc, *out;

	if (!o || !json_object_object_get_ex(o, "underlay", &u) ||
	    !json_object_is_type(u, json_type_string) || !endpoint_valid(json_object_get_string(u)) ||
	    (json_object_object_get_ex(o, "encap", &enc) &&
	     (!json_object_is_type(enc, json_type_string) ||
	      (strcmp(json_object_get_string(enc), "vxlan") &&
	       strcmp(json_object_get_string(enc), "geneve"))))) {
		cv_err_once("fleet: mapping %s: not {\"underlay\":\"A.B.C.D:PORT\",\"encap\":"
			    "\"vxlan|geneve\"}; left out", key);
		json_object_put(o);
		return NULL;
	}
	out = json_object_new_object();
	json_object_object_add(out, "underlay", json_object_get(u));
	json_object_object_add(out, "encap", json_object_new_string(
		json_field_str(o, "encap", "vxlan")));
	json_object_put(o);
	return out;
}

/*
 * One request to @c, on @fd if it is a connection (a full sync's) or a
 * connection of its own; false (and @c marked for a full sync) when it
 * fails.  The reply into @reply if it is not NULL.
 */
static bool card_call(struct mapsync_card *c, int fd, const char *request, json_object **reply)
{
	json_object *r = fd >= 0 ? card_ctl_request(fd, request) : card_ctl_call(c->ctl, request);
	json_object *ok;

	if (!r || !json_object_object_get_ex(r, "ok", &ok) || !json_object_get_boolean(ok)) {
		if (r)
			cv_err_once("fleet: eni %s: card refused %s: %s", c->eni, request,
				    json_field_str(r, "error", "no reason"));
		json_object_put(r);
		c->dirty = true;
		return false;
	}
	if (reply)
		*reply = r;
	else
		json_object_put(r);
	return true;
}

static bool card_set(struct mapsync_card *c, int fd, unsigned vni, const char *ip,
		     json_object *entry, int64_t gen)
{
	char req[CARD_CTL_LINE_MAX];

	snprintf(req, sizeof(req), "{\"cmd\":\"mapping-set\",\"vni\":%u,\"ip\":\"%s\","
		 "\"underlay\":\"%s\",\"encap\":\"%s\",\"gen\":%lld}", vni, ip,
		 json_field_str(entry, "underlay", ""), json_field_str(entry, "encap", "vxlan"),
		 (long long)gen);
	return card_call(c, fd, req, NULL);
}

/*
 * Every entry of @v's table with generation G = @v->rev, then a prune
 * below G, on one connection: the card answers mapping_gen G from then
 * on.  Under the lock.
 */
static void card_full_sync(struct mapsync_card *c, struct mapsync_vni *v)
{
	char req[CARD_CTL_LINE_MAX];
	json_object *reply = NULL;
	int fd = card_ctl_connect(c->ctl);

	if (fd < 0) {
		c->dirty = true;
		return;
	}
	c->dirty = false;
	json_object_object_foreach(v->table, ip, entry)
		if (!card_set(c, fd, v->vni, ip, entry, v->rev))
			goto out;
	snprintf(req, sizeof(req), "{\"cmd\":\"mapping-prune\",\"gen\":%lld}", (long long)v->rev);
	if (!card_call(c, fd, req, &reply))
		goto out;
	c->synced = v->rev;
	if (cv_log_verbose())
		cv_info("fleet: eni %s: mapping table synced at revision %lld: %d entries, %lld "
			"stale removed", c->eni, (long long)v->rev, json_object_object_length(v->table),
			(long long)json_field_i64(reply, "removed"));
	json_object_put(reply);
out:
	close(fd);
}

/* @v's table read afresh from etcd (under the lock). */
static int vni_read(struct mapsync_vni *v, struct etcd *e)
{
	struct etcd_kvs kvs;
	char ip[16];
	int r = etcd_get(e, v->prefix, ETCD_PREFIX, &kvs);

	if (r)
		return r;
	json_object_put(v->table);
	v->table = json_object_new_object();
	for (size_t i = 0; i < kvs.n; i++) {
		json_object *entry = key_ip(v, kvs.kv[i].key, ip) ?
			entry_parse(kvs.kv[i].key, kvs.kv[i].value) : NULL;

		if (entry)
			json_object_object_add(v->table, ip, entry);
	}
	v->rev = kvs.revision;
	v->watch.next_revision = kvs.revision + 1;
	etcd_kvs_free(&kvs);
	return 0;
}

/* The watch's changes into the table and on to each synced card of the VNI. */
static int vni_events(void *arg, const struct etcd_event *ev, size_t n)
{
	struct mapsync_vni *v = arg;
	struct mapsync *ms = v->ms;
	char ip[16], req[CARD_CTL_LINE_MAX];

	pthread_mutex_lock(&ms->lock);
	for (size_t i = 0; i < n; i++) {
		json_object *entry = NULL;

		if (!key_ip(v, ev[i].kv.key, ip))
			continue;
		v->rev = ev[i].kv.mod_revision;
		/* A value no card would take vouches for no location: removed. */
		if (ev[i].type == ETCD_EVENT_PUT)
			entry = entry_parse(ev[i].kv.key, ev[i].kv.value);
		if (entry) {
			json_object_object_add(v->table, ip, entry);
		} else {
			json_object_object_del(v->table, ip);
			snprintf(req, sizeof(req), "{\"cmd\":\"mapping-remove\",\"vni\":%u,"
				 "\"ip\":\"%s\"}", v->vni, ip);
		}
		if (cv_log_verbose())
			cv_info("fleet: vni %u: %s %s (revision %lld)", v->vni,
				entry ? "mapping" : "no more mapping for", ip,
				(long long)ev[i].kv.mod_revision);
		/* Single changes carry no generation (mapping_sync.h). */
		for (int k = 0; k < MAPSYNC_CARDS; k++) {
			struct mapsync_card *c = &ms->card[k];

			if (!c->used || c->vni != v->vni || !c->synced || c->dirty)
				continue;
			if (entry)
				card_set(c, -1, v->vni, ip, entry, 0);
			else
				card_call(c, -1, req, NULL);
		}
	}
	pthread_mutex_unlock(&ms->lock);
	return 0;
}

/* A VNI's watch, read again whenever etcd compacted past it. */
static void *vni_follow(void *arg)
{
	struct mapsync_vni *v = arg;
	struct etcd *e;

	if (etcd_open(&e, v->ms->endpoints))
		return NULL;
	while (!atomic_load(&v->watch.stop) && etcd_watch_run(e, &v->watch) == -ERANGE) {
		int r;

		cv_warn("fleet: vni %u: %s; reading its mappings again", v->vni, etcd_error(e));
		pthread_mutex_lock(&v->ms->lock);
		r = vni_read(v, e);
		/* Changes between the watch and the read were not pushed: the
		 * ticker syncs the VNI's cards in full at the new revision. */
		for (int k = 0; k < MAPSYNC_CARDS && !r; k++)
			if (v->ms->card[k].used && v->ms->card[k].vni == v->vni)
				v->ms->card[k].dirty = true;
		pthread_mutex_unlock(&v->ms->lock);
		if (r)
			sleep_ms(TICK_MS);
	}
	etcd_close(e);
	return NULL;
}

static struct mapsync_vni *vni_find(struct mapsync *ms, unsigned vni)
{
	for (int i = 0; i < MAPSYNC_VNIS; i++)
		if (ms->vni[i].users && ms->vni[i].vni == vni)
			return &ms->vni[i];
	return NULL;
}

/* The VNI's follower, started (its table read) if it is new.  Under the lock. */
static int vni_get(struct mapsync *ms, unsigned vni, struct mapsync_vni **out)
{
	struct mapsync_vni *v = vni_find(ms, vni);
	int r;

	if (v) {
		v->users++;
		*out = v;
		return 0;
	}
	for (int i = 0; i < MAPSYNC_VNIS && !v; i++)
		if (!ms->vni[i].users && !ms->vni[i].thread_up)
			v = &ms->vni[i];
	if (!v)
		return -ENOSPC;
	*v = (struct mapsync_vni){ .ms = ms, .vni = vni };
	fleet_address_key(v->prefix, sizeof(v->prefix), "mapping", vni, "");
	v->watch = (struct etcd_watch){ .key = v->prefix, .match = ETCD_PREFIX, .fn = vni_events,
					.arg = v };
	r = vni_read(v, ms->e);
	if (r)
		return r;
	if (pthread_create(&v->thread, NULL, vni_follow, v)) {
		json_object_put(v->table);
		return -EAGAIN;
	}
	v->thread_up = true;
	v->users = 1;
	*out = v;
	return 0;
}

/* Join the follower of a VNI no ENI is in, out of the lock its events take. */
static void vni_reap(struct mapsync *ms, pthread_t t)
{
	pthread_join(t, NULL);
	pthread_mutex_lock(&ms->lock);
	for (int i = 0; i < MAPSYNC_VNIS; i++) {
		struct mapsync_vni *v = &ms->vni[i];

		if (v->thread_up && !v->users && pthread_equal(v->thread, t)) {
			json_object_put(v->table);
			v->table = NULL;
			v->thread_up = false;
		}
	}
	pthread_mutex_unlock(&ms->lock);
}

/*
 * Check one card: publish its mapping again if its bound underlay is not
 * the one published, sync it in full if it restarted or missed a change.
 * Under the lock.
 */
static void card_check(struct mapsync *ms, struct mapsync_card *c)
{
	json_object *stats = card_ctl_call(c->ctl, "{\"cmd\":\"stats\"}");
	struct mapsync_vni *v = vni_find(ms, c->vni);
	const char *underlay;

	if (!stats || !v)
		goto out;    /* not answering: restarting, or ending */
	underlay = json_field_str(stats, "underlay", "");
	if (endpoint_valid(underlay) && strcmp(underlay, c->published)) {
		struct fleet_mapping m = { .vni = c->vni, .ip = c->ip, .underlay = underlay,
					   .encap = c->encap, .instance = c->instance,
					   .eni = c->eni, .host = ms->host };
		int r = fleet_mapping_put(ms->e, &m, ms->lease);

		if (r)
			cv_err("fleet: eni %s: publishing %s in VNI %u at %s: %s", c->eni, c->ip,
			       c->vni, underlay, etcd_error(ms->e));
		else
			cv_info("fleet: eni %s: %s in VNI %u is at %s on the underlay", c->eni,
				c->ip, c->vni, underlay);
		if (!r)
			snprintf(c->published, sizeof(c->published), "%s", underlay);
	}
	if (c->dirty || !c->synced || json_field_i64(stats, "mapping_gen") != c->synced) {
		if (c->synced && !c->dirty)
			cv_info("fleet: eni %s: its card restarted: syncing its mapping table",
				c->eni);
		card_full_sync(c, v);
	}
out:
	json_object_put(stats);
}

static void *ticker(void *arg)
{
	struct mapsync *ms = arg;

	while (!atomic_load(&ms->stop)) {
		for (long t = 0; t < TICK_MS && !atomic_load(&ms->stop); t += 100)
			sleep_ms(100);
		pthread_mutex_lock(&ms->lock);
		for (int i = 0; i < MAPSYNC_CARDS && !atomic_load(&ms->stop); i++)
			if (ms->card[i].used)
				card_check(ms, &ms->card[i]);
		pthread_mutex_unlock(&ms->lock);
	}
	return NULL;
}

int mapsync_start(struct mapsync *ms, const char *endpoints, const char *host, int64_t lease)
{
	int r;

	memset(ms, 0, sizeof(*ms));
	ms->endpoints = endpoints;
	ms->host = host;
	ms->lease = lease;
	r = etcd_open(&ms->e, endpoints);
	if (r)
		return r;
	pthread_mutex_init(&ms->lock, NULL);
	if (pthread_create(&ms->ticker, NULL, ticker, ms)) {
		etcd_close(ms->e);
		return -EAGAIN;
	}
	ms->ticker_up = true;
	return 0;
}

int mapsync_attach(struct mapsync *ms, const char *instance, const struct instance_nic *nics,
		   unsigned n)
{
	int r = 0;

	pthread_mutex_lock(&ms->lock);
	if (atomic_load(&ms->stop))
		r = -ESHUTDOWN;    /* the agent is leaving */
	for (unsigned i = 0; i < n && !r; i++) {
		struct mapsync_card *c = NULL;
		struct mapsync_vni *v;

		for (int k = 0; k < MAPSYNC_CARDS && !c; k++)
			if (!ms->card[k].used)
				c = &ms->card[k];
		if (!c) {
			r = -ENOSPC;
			break;
		}
		r = vni_get(ms, nics[i].vni, &v);
		if (r)
			break;
		*c = (struct mapsync_card){ .used = true, .vni = nics[i].vni };
		snprintf(c->instance, sizeof(c->instance), "%s", instance);
		snprintf(c->eni, sizeof(c->eni), "%s", nics[i].id);
		snprintf(c->ip, sizeof(c->ip), "%s", nics[i].ipv4);
		snprintf(c->encap, sizeof(c->encap), "%s", nics[i].encap);
		snprintf(c->ctl, sizeof(c->ctl), "%s%s", nics[i].socket, CARD_CTL_SUFFIX);
		card_check(ms, c);
	}
	pthread_mutex_unlock(&ms->lock);
	if (r && r != -ESHUTDOWN)
		cv_err("fleet: instance %s: following its ENIs' mappings: %s", instance,
		       r == -ENOSPC ? "too many ENIs on this host" : strerror(-r));
	return r;
}

void mapsync_detach(struct mapsync *ms, const char *instance)
{
	pthread_t join[MAPSYNC_CARDS];
	int n_join = 0;

	pthread_mutex_lock(&ms->lock);
	for (int k = 0; k < MAPSYNC_CARDS; k++) {
		struct mapsync_card *c = &ms->card[k];
		struct mapsync_vni *v;

		if (!c->used || strcmp(c->instance, instance))
			continue;
		v = vni_find(ms, c->vni);
		/* The VNI's watch ends with its last ENI here. */
		if (v && !--v->users) {
			etcd_watch_stop(&v->watch);
			join[n_join++] = v->thread;
		}
		c->used = false;
	}
	pthread_mutex_unlock(&ms->lock);
	for (int i = 0; i < n_join; i++)
		vni_reap(ms, join[i]);
}

void mapsync_stop(struct mapsync *ms)
{
	pthread_t join[MAPSYNC_VNIS];
	int n_join = 0;

	if (!ms->ticker_up)
		return;
	/* Under the lock: no attach starts a watch after this one's look. */
	pthread_mutex_lock(&ms->lock);
	atomic_store(&ms->stop, true);
	for (int i = 0; i < MAPSYNC_VNIS; i++) {
		if (ms->vni[i].thread_up && ms->vni[i].users) {
			ms->vni[i].users = 0;
			etcd_watch_stop(&ms->vni[i].watch);
			join[n_join++] = ms->vni[i].thread;
		}
	}
	pthread_mutex_unlock(&ms->lock);
	pthread_join(ms->ticker, NULL);
	for (int i = 0; i < n_join; i++)
		vni_reap(ms, join[i]);
	etcd_close(ms->e);
	ms->e = NULL;
	ms->ticker_up = false;
}
