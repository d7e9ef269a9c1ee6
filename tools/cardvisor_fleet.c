// SPDX-License-Identifier: Apache-2.0
/*
 * The fleet commands of cardvisor (cardvisor_fleet.h, docs/fleet.md).
 *
 * The host agent (`cardvisor host serve`) is three kinds of thread:
 *   main       registers the host under a lease, then watches
 *              placed/<host>/ and hands each instance to its own thread;
 *   keepalive  renews the lease every third of its TTL; a lease found
 *              expired ends the agent (the fleet has already called its
 *              instances host-lost);
 *   instance   one per instance: starts it with `cardvisor run -d --id`,
 *              reports it running, waits for its end (stopping it when
 *              asked), then releases its capacity with its final status.
 * Instances are ordinary detached instances of this host under the
 * fleet's id (`cardvisor logs ID` works there): an agent that restarts
 * finds them still running and adopts them.
 */
#include "tools/cardvisor_fleet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "tools/lib/instance.h"
#include "tools/lib/instance_query.h"
#include "tools/lib/instance_record.h"
#include "tools/lib/json_field.h"
#include "tools/lib/log.h"
#include "tools/lib/mapping_sync.h"
#include "tools/lib/size.h"
#include "tools/lib/sleep_ms.h"
#include "tools/lib/volume_store.h"

#define EXIT_USAGE 1
#define JSON_OUT (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
/* The host's lease: how long a dead agent's host stays "alive". */
#define AGENT_TTL_S 10
#define AGENT_VMS 64
/* How often an instance's status checks are taken. */
#define CHECK_EVERY_S 5
/* How long run --fleet waits for the host to start the instance. */
#define LAUNCH_WAIT_S 300

extern char **environ;

const char *fleet_endpoints(const char *cmd, const char *opt)
{
	const char *env = getenv(ETCD_ENV);

	if (opt)
		return opt;
	if (env && *env)
		return env;
	fprintf(stderr, "%s: no etcd: give --etcd URL[,URL...] or set " ETCD_ENV "\n", cmd);
	return NULL;
}

static struct etcd *fleet_open(const char *cmd, const char *endpoints)
{
	struct etcd *e;

	if (etcd_open(&e, endpoints)) {
		fprintf(stderr, "%s: --etcd %s: expected http://HOST:PORT[,...] (at most %d)\n",
			cmd, endpoints, ETCD_ENDPOINTS_MAX);
		return NULL;
	}
	return e;
}

/*
 * Run this binary with @argv, stdout to /dev/null: its exit status, and
 * the last line it said on stderr in @last.
 */
static int run_self(char *const argv[], char *last, size_t len)
{
	posix_spawn_file_actions_t fa;
	char buf[4096], line[512] = "";
	size_t at = 0;
	int err[2], status;
	ssize_t n;
	pid_t pid;

	snprintf(last, len, "no message");
	if (pipe2(err, O_CLOEXEC))
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, err[1], STDERR_FILENO);
	status = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(err[1]);
	if (status) {
		close(err[0]);
		return -status;
	}
	while ((n = read(err[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] != '\n') {
				if (at < sizeof(line) - 1)
					line[at++] = buf[i];
				continue;
			}
			line[at] = 0;
			/* Without log_init's "[seconds] " stamp: a reason, not a log line. */
			if (at)
				snprintf(last, len, "%s", line[0] == '[' && strstr(line, "] ") ?
					 strstr(line, "] ") + 2 : line);
			at = 0;
		}
	}
	close(err[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* --- the host agent ------------------------------------------------------- */

struct agent;

struct agent_vm {
	struct agent *a;
	char id[CV_INSTANCE_ID_MAX];
	pthread_t thread;
	bool used;
	atomic_bool stop_asked;
};

struct agent {
	struct fleet_host host;
	const char *endpoints;
	int64_t lease, ttl;
	struct etcd_watch watch;
	atomic_bool ending;
	int exit_status;
	pthread_mutex_t lock;
	struct agent_vm vm[AGENT_VMS];
	struct mapsync mapsync;      /* its ENIs' mappings, published and followed */
};

static struct agent *the_agent;

static void agent_signal(int sig)
{
	(void)sig;
	atomic_store(&the_agent->ending, true);
	etcd_watch_stop(&the_agent->watch);
}

/* The final status and release of one instance; logs what went wrong. */
static void vm_release(struct agent_vm *v, struct etcd *e, json_object *status)
{
	const char *s = json_object_to_json_string_ext(status, JSON_OUT);
	int r;

	for (int t = 0; t < 10; t++) {
		r = fleet_release(e, v->a->host.name, v->id, s);
		if (r != -EHOSTUNREACH && r != -ETIMEDOUT)
			break;
		sleep_ms(1000);   /* no member answers: the release must not be lost */
	}
	if (r)
		cv_err("fleet: instance %s: release: %s: %s", v->id, strerror(-r), etcd_error(e));
	json_object_put(status);
}

static json_object *status_new(const char *state, const struct agent_vm *v)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "state", json_object_new_string(state));
	json_object_object_add(o, "host", json_object_new_string(v->a->host.name));
	return o;
}

/*
 * The --volume argument @spec with the epoch the fleet attached its volume
 * with (the record's "volumes": {id: epoch}) appended, for the card's
 * host NQN (docs/storaged.md, "Epochs"); NULL if it names no such volume.
 */
static char *volume_arg_epoch(const char *spec, json_object *epochs)
{
	struct volume_spec vs;
	json_object *epoch;
	char err[160], *s;

	if (volume_spec_parse(spec, &vs, err, sizeof(err)) || !vs.id[0] ||
	    !json_object_object_get_ex(epochs, vs.id, &epoch))
		return NULL;
	return asprintf(&s, "%s,epoch=%lld", spec, (long long)json_object_get_int64(epoch)) < 0 ?
		NULL : s;
}

/*
 * The --nic argument @spec as placed, bound to this host's underlay
 * address on a port the kernel picks: the card reports the port and the
 * mapping service publishes it (mapping_sync.h).  NULL without memory.
 */
static char *nic_arg_underlay(const char *spec, const char *underlay)
{
	char *s;

	return asprintf(&s, "%s,underlay=%s:0", spec, underlay) < 0 ? NULL : s;
}

/* @argv as one line for the log (truncated past 1 KiB). */
static const char *args_text(char *const argv[])
{
	static __thread char line[1024];
	size_t at = 0;

	line[0] = 0;
	for (size_t i = 0; argv[i] && at < sizeof(line); i++)
		at += (size_t)snprintf(line + at, sizeof(line) - at, "%s%s", i ? " " : "", argv[i]);
	return line;
}

/* Whether the record's args (a JSON array) hold option @opt. */
static bool args_have(json_object *args, const char *opt)
{
	for (size_t j = 0; j < json_object_array_length(args); j++)
		if (!strcmp(json_object_get_string(json_object_array_get_idx(args, j)), opt))
			return true;
	return false;
}

/* Start instance @v->id from its record: 0, or its final status in @failed. */
static int vm_launch(struct agent_vm *v, struct etcd *e, json_object **failed)
{
	enum { OWNED_MAX = FLEET_VOLUMES_MAX + FLEET_NICS_MAX };
	char key[256], reason[512], *owned[OWNED_MAX] = { 0 };
	struct etcd_kvs kvs = { 0 };
	json_object *rec = NULL, *args, *epochs = NULL;
	char **argv = NULL;
	size_t n = 0, n_owned = 0;
	int r;

	fleet_key(key, sizeof(key), "instances", v->id, NULL);
	r = etcd_get(e, key, ETCD_KEY, &kvs);
	if (!r && kvs.n == 1)
		rec = json_tokener_parse(kvs.kv[0].value);
	if (!rec || !json_object_object_get_ex(rec, "args", &args) ||
	    !json_object_is_type(args, json_type_array)) {
		snprintf(reason, sizeof(reason), "its record %s is missing or malformed%s%s", key,
			 r ? ": " : "", r ? etcd_error(e) : "");
		r = -EBADMSG;
	} else if (!v->a->host.underlay[0] && args_have(args, "--nic")) {
		snprintf(reason, sizeof(reason), "host %s has no underlay address for its ENIs "
			 "(cardvisor host serve --underlay ADDR)", v->a->host.name);
		r = -EADDRNOTAVAIL;
	} else {
		n = json_object_array_length(args);
		argv = calloc(n + 7, sizeof(*argv));
		if (!argv) {
			r = -ENOMEM;
			snprintf(reason, sizeof(reason), "no memory");
		}
	}
	if (argv) {
		size_t i = 0;

		argv[i++] = "cardvisor";
		argv[i++] = "run";
		argv[i++] = "-d";
		argv[i++] = "--id";
		argv[i++] = v->id;
		json_object_object_get_ex(rec, "volumes", &epochs);
		for (size_t j = 0; j < n; j++) {
			const char *a = json_object_get_string(json_object_array_get_idx(args, j));
			char *as_host = NULL;

			/* --volume SPEC as the CLI wrote it (never --volume=SPEC). */
			if (j && !strcmp(argv[i - 1], "--volume") && n_owned < OWNED_MAX &&
			    (as_host = volume_arg_epoch(a, epochs)))
				owned[n_owned++] = as_host;
			else if (j && !strcmp(argv[i - 1], "--nic") && n_owned < OWNED_MAX &&
				 (as_host = nic_arg_underlay(a, v->a->host.underlay)))
				owned[n_owned++] = as_host;
			argv[i++] = as_host ? as_host : (char *)a;
		}
		argv[i] = NULL;
		cv_info("fleet: instance %s: starting it: %s", v->id, args_text(argv));
		r = run_self(argv, reason, sizeof(reason));
		free(argv);
		for (size_t j = 0; j < n_owned; j++)
			free(owned[j]);
	}
	json_object_put(rec);
	etcd_kvs_free(&kvs);
	if (r) {
		cv_err("fleet: instance %s: not started: %s", v->id, reason);
		*failed = status_new(FLEET_FAILED, v);
		json_object_object_add(*failed, "reason", json_object_new_string(reason));
		return r < 0 ? r : -ECHILD;
	}
	return 0;
}

/* Publish and follow the mappings of @v's ENIs, as its run directory describes them. */
static void vm_follow_nics(struct agent_vm *v)
{
	struct instance_desc d;
	void *blob;

	if (instance_desc_load(v->id, &d, &blob))
		cv_err("fleet: instance %s: its description cannot be read from its run "
		       "directory: its ENIs are not mapped", v->id);
	else if (d.nr_nics)
		mapsync_attach(&v->a->mapsync, v->id, d.nics, d.nr_nics);
	free(blob);
}

/*
 * status/<id> as running, with the instance's status checks
 * (instance_query.h), when they differ from @last (what was put before,
 * updated).
 */
static void vm_report_running(struct agent_vm *v, struct etcd *e, char *last, size_t len)
{
	json_object *hv = instance_control(v->id, "{\"cmd\":\"status\"}"), *checks;
	json_object *running = status_new(FLEET_RUNNING, v);
	const char *text;

	if (hv) {
		instance_cards(v->id, hv);
		instance_checks(hv);
	}
	if (hv && json_object_object_get_ex(hv, "checks", &checks))
		json_object_object_add(running, "checks", json_object_get(checks));
	text = json_object_to_json_string_ext(running, JSON_OUT);
	if (strcmp(text, last)) {
		if (fleet_status_put(e, v->id, text))
			cv_err("fleet: instance %s: status: %s", v->id, etcd_error(e));
		else
			snprintf(last, len, "%s", text);
	}
	json_object_put(running);
	json_object_put(hv);
}

static void *vm_thread(void *arg)
{
	struct agent_vm *v = arg;
	json_object *end = NULL;
	bool stop_sent = false;
	char checks[1024] = "";   /* the status last put: only a change is put */
	struct etcd *e;
	int status;

	if (etcd_open(&e, v->a->endpoints)) {
		e = NULL;
		goto out;
	}
	if (!instance_record_exists(v->id)) {
		/* Asked to stop before it was started (say, while the agent was
		 * away): it never runs. */
		if (atomic_load(&v->stop_asked)) {
			end = status_new(FLEET_STOPPED, v);
			json_object_object_add(end, "reason",
					       json_object_new_string("stopped before it started"));
			vm_release(v, e, end);
			goto out;
		}
		if (vm_launch(v, e, &end)) {
			vm_release(v, e, end);
			goto out;
		}
	}
	if (instance_record_running(v->id)) {
		cv_info("fleet: instance %s running", v->id);
		vm_follow_nics(v);
		vm_report_running(v, e, checks, sizeof(checks));
	}
	for (unsigned tick = 1; instance_record_wait(v->id, 1000) == -ETIMEDOUT; tick++) {
		char *stop[] = { "cardvisor", "stop", v->id, NULL };
		char said[256];

		if (!atomic_load(&v->stop_asked) && tick % CHECK_EVERY_S == 0)
			vm_report_running(v, e, checks, sizeof(checks));
		if (!atomic_load(&v->stop_asked) || stop_sent)
			continue;
		stop_sent = true;
		json_object *stopping = status_new(FLEET_STOPPING, v);

		fleet_status_put(e, v->id, json_object_to_json_string_ext(stopping, JSON_OUT));
		json_object_put(stopping);
		if (run_self(stop, said, sizeof(said)))
			cv_err("fleet: instance %s: stop: %s", v->id, said);
	}
	mapsync_detach(&v->a->mapsync, v->id);
	if (instance_record_exit(v->id, &status))
		status = -ECHILD;   /* its supervisor died before recording one */
	cv_info("fleet: instance %s ended, exit status %d", v->id, status);
	end = status_new(FLEET_STOPPED, v);
	json_object_object_add(end, "exit_status", json_object_new_int(status));
	vm_release(v, e, end);
out:
	etcd_close(e);
	pthread_mutex_lock(&v->a->lock);
	v->used = false;
	pthread_mutex_unlock(&v->a->lock);
	return NULL;
}

/* placed/<host>/<id> is "run" or "stop": start its thread, or ask it to stop. */
static void agent_placed(struct agent *a, const char *id, const char *what)
{
	struct agent_vm *v = NULL, *free_slot = NULL;

	if (!instance_id_valid(id)) {
		cv_err_once("fleet: placed %s: not an instance id; left alone", id);
		return;
	}
	pthread_mutex_lock(&a->lock);
	for (int i = 0; i < AGENT_VMS; i++) {
		if (a->vm[i].used && !strcmp(a->vm[i].id, id))
			v = &a->vm[i];
		else if (!a->vm[i].used && !free_slot)
			free_slot = &a->vm[i];
	}
	if (v) {
		if (!strcmp(what, "stop"))
			atomic_store(&v->stop_asked, true);
	} else if (free_slot) {
		v = free_slot;
		if (v->thread)
			pthread_join(v->thread, NULL);   /* the slot's last thread, ended */
		memset(v, 0, sizeof(*v));
		v->a = a;
		v->used = true;
		snprintf(v->id, sizeof(v->id), "%s", id);
		atomic_store(&v->stop_asked, !strcmp(what, "stop"));
		if (pthread_create(&v->thread, NULL, vm_thread, v)) {
			cv_err("fleet: instance %s: no thread", id);
			memset(v, 0, sizeof(*v));
		}
	} else {
		cv_err("fleet: instance %s: this agent serves %d instances at most", id, AGENT_VMS);
	}
	pthread_mutex_unlock(&a->lock);
}

static int agent_events(void *arg, const struct etcd_event *ev, size_t n)
{
	struct agent *a = arg;
	size_t skip = strlen(FLEET_PREFIX "placed/") + strlen(a->host.name) + 1;

	for (size_t i = 0; i < n; i++)
		if (ev[i].type == ETCD_EVENT_PUT && ev[i].kv.key_len > skip)
			agent_placed(a, ev[i].kv.key + skip, ev[i].kv.value);
	return 0;
}

static void *agent_keepalive(void *arg)
{
	struct agent *a = arg;
	bool failing = false;
	struct etcd *e;

	if (etcd_open(&e, a->endpoints))
		return NULL;
	while (!atomic_load(&a->ending)) {
		int64_t ttl;
		int r;

		for (int64_t ms = 0; ms < a->ttl * 1000 / 3 && !atomic_load(&a->ending); ms += 100)
			sleep_ms(100);
		if (atomic_load(&a->ending))
			break;
		r = etcd_lease_keepalive(e, a->lease, &ttl);
		if (r == -ENOENT) {
			cv_err("fleet: host %s: its lease expired: the fleet reports its instances "
			       "host-lost; this agent ends", a->host.name);
			a->exit_status = 3;
			agent_signal(0);
		} else if (r && !failing) {
			cv_warn("fleet: host %s: lease keepalive: %s", a->host.name, etcd_error(e));
		} else if (!r && failing) {
			cv_info("fleet: host %s: lease renewed again", a->host.name);
		}
		failing = r != 0;
	}
	etcd_close(e);
	return NULL;
}

/*
 * What is placed on this host: each instance to its thread, then the
 * watch from the revision read until the agent ends (0) or etcd cannot
 * serve it (a negative errno).
 */
static int agent_follow(struct agent *a, struct etcd *e, const char *prefix)
{
	struct etcd_event ev = { .type = ETCD_EVENT_PUT };
	struct etcd_kvs placed;
	int r = etcd_get(e, prefix, ETCD_PREFIX, &placed);

	if (r)
		return r;
	for (size_t i = 0; i < placed.n; i++) {
		ev.kv = placed.kv[i];
		agent_events(a, &ev, 1);
	}
	a->watch = (struct etcd_watch){ .key = prefix, .match = ETCD_PREFIX,
					.next_revision = placed.revision + 1,
					.fn = agent_events, .arg = a };
	etcd_kvs_free(&placed);
	/* Checked after the watch is set: a SIGTERM from now on stops it. */
	return atomic_load(&a->ending) ? 0 : etcd_watch_run(e, &a->watch);
}

/* Register, pick up what is already placed here, then watch for more. */
static int agent_serve(struct agent *a)
{
	char prefix[256];
	pthread_t keepalive;
	struct etcd *e;
	int r;

	if (!(e = fleet_open("cardvisor host serve", a->endpoints)))
		return EXIT_USAGE;
	r = etcd_lease_grant(e, a->ttl, &a->lease);
	if (!r)
		r = fleet_host_register(e, &a->host, a->lease);
	if (r) {
		fprintf(stderr, "cardvisor host serve: host %s: %s\n", a->host.name,
			r == -EEXIST ? "already registered: another agent serves it" :
			etcd_error(e));
		if (a->lease)
			etcd_lease_revoke(e, a->lease);
		etcd_close(e);
		return EXIT_USAGE;
	}
	cv_info("fleet: host %s registered (%u vCPUs, %" PRIu64 " MiB, lease %llx, TTL %llds) "
		"at %s", a->host.name, a->host.vcpus, a->host.mem >> 20,
		(unsigned long long)a->lease, (long long)a->ttl, etcd_endpoint(e));
	if (mapsync_start(&a->mapsync, a->endpoints, a->host.name, a->lease) ||
	    pthread_create(&keepalive, NULL, agent_keepalive, a)) {
		mapsync_stop(&a->mapsync);
		etcd_lease_revoke(e, a->lease);
		etcd_close(e);
		return EXIT_USAGE;
	}
	fleet_key(prefix, sizeof(prefix), "placed", a->host.name, "");
	/* Compacted past the watch, or no member answers: read again. */
	while ((r = agent_follow(a, e, prefix)) == -ERANGE || r == -EHOSTUNREACH) {
		cv_warn("fleet: host %s: %s; reading what is placed here again", a->host.name,
			etcd_error(e));
		for (int ms = 0; ms < 1000 && !atomic_load(&a->ending); ms += 100)
			sleep_ms(100);
		if (atomic_load(&a->ending)) {
			r = 0;
			break;
		}
	}
	if (r) {
		cv_err("fleet: host %s: %s", a->host.name, etcd_error(e));
		a->exit_status = EXIT_USAGE;
	}
	atomic_store(&a->ending, true);
	pthread_join(keepalive, NULL);
	mapsync_stop(&a->mapsync);
	/* Going away on purpose: the host leaves the fleet now, not at TTL. */
	if (a->exit_status != 3 && etcd_lease_revoke(e, a->lease))
		cv_warn("fleet: host %s: lease revoke: %s", a->host.name, etcd_error(e));
	cv_info("fleet: host %s leaves the fleet; its instances go on running here",
		a->host.name);
	etcd_close(e);
	return a->exit_status;
}

static int host_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "vcpus", required_argument, NULL, 'c' },
		{ "mem", required_argument, NULL, 'm' },
		{ "underlay", required_argument, NULL, 'u' },
		{ "ttl", required_argument, NULL, 't' },
		{ "etcd", required_argument, NULL, 'e' },
		{ 0 },
	};
	static struct agent a;
	const char *etcd = NULL;
	struct sysinfo si;
	char *end;
	int opt;

	a.ttl = AGENT_TTL_S;
	a.host.vcpus = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	a.host.mem = sysinfo(&si) ? 0 : (uint64_t)si.totalram * si.mem_unit;
	if (gethostname(a.host.name, sizeof(a.host.name)))
		a.host.name[0] = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'n': snprintf(a.host.name, sizeof(a.host.name), "%s", optarg); break;
		case 'c':
			errno = 0;
			a.host.vcpus = (unsigned)strtoul(optarg, &end, 10);
			if (errno || *end || !a.host.vcpus) {
				fprintf(stderr, "%s: --vcpus %s: expected a count\n", argv[0], optarg);
				return EXIT_USAGE;
			}
			break;
		case 'm':
			if (parse_size(optarg, &a.host.mem)) {
				fprintf(stderr, "%s: --mem %s: expected a size like 8G\n", argv[0],
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'u': {
			struct in_addr addr;

			if (inet_pton(AF_INET, optarg, &addr) != 1) {
				fprintf(stderr, "%s: --underlay %s: expected this host's IPv4 address "
						"on the underlay\n", argv[0], optarg);
				return EXIT_USAGE;
			}
			snprintf(a.host.underlay, sizeof(a.host.underlay), "%s", optarg);
			break;
		}
		case 't':
			errno = 0;
			a.ttl = strtol(optarg, &end, 10);
			if (errno || *end || a.ttl < 2 || a.ttl > 3600) {
				fprintf(stderr, "%s: --ttl %s: expected 2..3600 seconds\n", argv[0],
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'e': etcd = optarg; break;
		default: return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s: unexpected argument \"%s\" (see cardvisor host --help)\n",
			argv[0], argv[optind]);
		return EXIT_USAGE;
	}
	if (!fleet_name_valid(a.host.name)) {
		fprintf(stderr, "%s: --name \"%s\": expected 1 to %d letters, digits, '.', '_' "
				"or '-'\n", argv[0], a.host.name, FLEET_NAME_MAX - 1);
		return EXIT_USAGE;
	}
	if (!(a.endpoints = fleet_endpoints(argv[0], etcd)))
		return EXIT_USAGE;
	pthread_mutex_init(&a.lock, NULL);
	the_agent = &a;
	signal(SIGTERM, agent_signal);
	signal(SIGINT, agent_signal);
	return agent_serve(&a);
}

/* --- reading the fleet ---------------------------------------------------- */

/* hosts/, capacity/, instances/, status/ at one revision. */
enum { R_HOSTS, R_CAPACITY, R_INSTANCES, R_STATUS, R_KINDS };

static int fleet_read(struct etcd *e, struct etcd_kvs kvs[R_KINDS])
{
	static const char *const kind[R_KINDS] = { "hosts", "capacity", "instances", "status" };
	char key[R_KINDS][64];
	struct etcd_op get[R_KINDS];
	struct etcd_txn t = { .then = get, .n_then = R_KINDS, .kvs = kvs };

	for (int i = 0; i < R_KINDS; i++) {
		fleet_key(key[i], sizeof(key[i]), kind[i], "", NULL);
		get[i] = (struct etcd_op){ .type = ETCD_OP_GET, .key = key[i], .match = ETCD_PREFIX };
	}
	return etcd_txn(e, &t);
}

/* A listing: what fleet_read() gave, and where its lines go. */
struct listing {
	struct etcd *e;
	struct etcd_kvs kvs[R_KINDS];
	json_object *list;       /* --json: the objects, printed at the end */
	bool json;
};

/* Read the fleet for @cmd; 0, or EXIT_USAGE after one line. */
static int listing_begin(struct listing *l, const char *cmd, const char *endpoints, bool json)
{
	l->json = json;
	if (!(l->e = fleet_open(cmd, endpoints)))
		return EXIT_USAGE;
	if (fleet_read(l->e, l->kvs)) {
		fprintf(stderr, "%s: %s\n", cmd, etcd_error(l->e));
		etcd_close(l->e);
		return EXIT_USAGE;
	}
	l->list = json_object_new_array();
	return 0;
}

/* Print the JSON list (with --json) and let go: the command's exit status. */
static int listing_end(struct listing *l)
{
	if (l->json)
		printf("%s\n", json_object_to_json_string_ext(l->list, JSON_OUT));
	json_object_put(l->list);
	for (int i = 0; i < R_KINDS; i++)
		etcd_kvs_free(&l->kvs[i]);
	etcd_close(l->e);
	return 0;
}

/* The record under @kind/@name in @kvs, parsed (an empty object if none). */
static json_object *record_of(const struct etcd_kvs *kvs, const char *kind, const char *name)
{
	const struct etcd_kv *kv = fleet_record_find(kvs, kind, name);
	json_object *o = kv ? fleet_record_parse(kv) : NULL;

	return o ? o : json_object_new_object();
}

static const char *name_of(const struct etcd_kv *kv, const char *kind)
{
	return kv->key + strlen(FLEET_PREFIX) + strlen(kind) + 1;
}

static int host_ls(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "etcd", required_argument, NULL, 'e' },
		{ 0 },
	};
	const char *etcd = NULL;
	struct listing l;
	bool json = false;
	int opt;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'j')
			json = true;
		else if (opt == 'e')
			etcd = optarg;
		else
			return EXIT_USAGE;
	}
	if (optind != argc) {
		fprintf(stderr, "%s: unexpected argument \"%s\" (usage: %s [--json] [--etcd "
				"URLS])\n", argv[0], argv[optind], argv[0]);
		return EXIT_USAGE;
	}
	if (!(etcd = fleet_endpoints(argv[0], etcd)) || listing_begin(&l, argv[0], etcd, json))
		return EXIT_USAGE;
	if (!json)
		printf("%-20s %-11s %-15s %s\n", "HOST", "VCPUS", "MEMORY", "UNDERLAY");
	for (size_t i = 0; i < l.kvs[R_HOSTS].n; i++) {
		const char *name = name_of(&l.kvs[R_HOSTS].kv[i], "hosts");
		json_object *h = record_of(&l.kvs[R_HOSTS], "hosts", name);
		json_object *c = record_of(&l.kvs[R_CAPACITY], "capacity", name);

		if (json) {
			json_object_object_add(h, "name", json_object_new_string(name));
			json_object_object_add(h, "used", c);
			json_object_array_add(l.list, h);
			continue;
		}
		char vcpus[32], mem[48];

		snprintf(vcpus, sizeof(vcpus), "%lld/%lld", (long long)json_field_i64(c, "vcpus"),
			 (long long)json_field_i64(h, "vcpus"));
		snprintf(mem, sizeof(mem), "%lldM/%lldM", (long long)(json_field_i64(c, "mem") >> 20),
			 (long long)(json_field_i64(h, "mem") >> 20));
		printf("%-20s %-11s %-15s %s\n", name, vcpus, mem, json_field_str(h, "underlay", ""));
		json_object_put(h);
		json_object_put(c);
	}
	return listing_end(&l);
}

int fleet_cmd_host(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";
	char name[64];

	snprintf(name, sizeof(name), "%s %s", argv[0], sub);
	argv[1] = name;
	if (!strcmp(sub, "serve"))
		return host_serve(argc - 1, argv + 1);
	if (!strcmp(sub, "ls"))
		return host_ls(argc - 1, argv + 1);
	fprintf(stderr, "usage: cardvisor host serve|ls ... (see cardvisor --help)\n");
	return EXIT_USAGE;
}

/* An instance's state as the fleet sees it: its host gone makes it host-lost. */
static const char *state_of(const struct etcd_kvs kvs[R_KINDS], json_object *inst,
			    json_object *status)
{
	const char *state = json_field_str(status, "state", FLEET_PENDING);
	json_object *host = record_of(&kvs[R_HOSTS], "hosts", json_field_str(inst, "host", ""));
	bool alive = json_object_object_length(host) > 0;

	json_object_put(host);
	if (!alive && (!strcmp(state, FLEET_PENDING) || !strcmp(state, FLEET_RUNNING) ||
		       !strcmp(state, FLEET_STOPPING)))
		return FLEET_HOST_LOST;
	return state;
}

/*
 * "2/2" as EC2 counts its status checks passed, for a running instance
 * whose host has reported them; "-" otherwise.
 */
static const char *checks_passed(json_object *status, const char *state, char *buf, size_t len)
{
	json_object *checks;
	int passed = 0;

	if (strcmp(state, FLEET_RUNNING) || !json_object_object_get_ex(status, "checks", &checks))
		return "-";
	json_object_object_foreach(checks, name, c) {
		(void)name;
		passed += !strcmp(json_field_str(c, "status", ""), INSTANCE_CHECK_OK);
	}
	snprintf(buf, len, "%d/2", passed);
	return buf;
}

/* What ps --fleet --json and status --fleet say of instance @id. */
static json_object *instance_view(const char *id, const char *state, json_object *inst,
				  json_object *status)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "host", json_object_new_string(json_field_str(inst, "host", "")));
	json_object_object_add(o, "state", json_object_new_string(state));
	json_object_object_add(o, "vcpus", json_object_new_int64(json_field_i64(inst, "vcpus")));
	json_object_object_add(o, "mem", json_object_new_int64(json_field_i64(inst, "mem")));
	json_object_object_add(o, "status", json_object_get(status));
	return o;
}

int fleet_cmd_ps(const char *endpoints, bool json)
{
	const struct etcd_kvs *kvs;
	struct listing l;

	if (listing_begin(&l, "cardvisor ps", endpoints, json))
		return EXIT_USAGE;
	kvs = l.kvs;
	if (!json)
		printf("%-20s %-16s %-9s %5s %9s %-6s %s\n", "ID", "HOST", "STATE", "VCPUS", "MEMORY",
		       "CHECKS", "REASON");
	for (size_t i = 0; i < kvs[R_INSTANCES].n; i++) {
		const char *id = name_of(&kvs[R_INSTANCES].kv[i], "instances");
		json_object *inst = record_of(&kvs[R_INSTANCES], "instances", id);
		json_object *status = record_of(&kvs[R_STATUS], "status", id);
		const char *state = state_of(kvs, inst, status);

		if (json) {
			json_object_array_add(l.list, instance_view(id, state, inst, status));
		} else {
			char checks[16];

			printf("%-20s %-16s %-9s %5lld %8lldM %-6s %s\n", id,
			       json_field_str(inst, "host", ""), state,
			       (long long)json_field_i64(inst, "vcpus"),
			       (long long)(json_field_i64(inst, "mem") >> 20),
			       checks_passed(status, state, checks, sizeof(checks)),
			       json_field_str(status, "reason", ""));
		}
		json_object_put(inst);
		json_object_put(status);
	}
	return listing_end(&l);
}

int fleet_cmd_status(const char *endpoints, const char *id)
{
	json_object *inst, *status, *o, *f;
	struct listing l;

	if (listing_begin(&l, "cardvisor status", endpoints, false))
		return EXIT_USAGE;
	if (!fleet_record_find(&l.kvs[R_INSTANCES], "instances", id)) {
		fprintf(stderr, "cardvisor status: the fleet has no instance %s\n", id);
		listing_end(&l);
		return EXIT_USAGE;
	}
	inst = record_of(&l.kvs[R_INSTANCES], "instances", id);
	status = record_of(&l.kvs[R_STATUS], "status", id);
	o = instance_view(id, state_of(l.kvs, inst, status), inst, status);
	/* Its ENIs as placed and its volumes' attachment epochs. */
	if (json_object_object_get_ex(inst, "nics", &f))
		json_object_object_add(o, "nics", json_object_get(f));
	if (json_object_object_get_ex(inst, "volumes", &f))
		json_object_object_add(o, "volumes", json_object_get(f));
	printf("%s\n", json_object_to_json_string_ext(o, JSON_OUT | JSON_C_TO_STRING_PRETTY));
	json_object_put(o);
	json_object_put(inst);
	json_object_put(status);
	return listing_end(&l);
}

/*
 * instances/<id> for @cmd: 0 with the record in *@inst (an empty object
 * if it is not one), 1 after one line when the fleet has no such
 * instance, or a negative errno (etcd_error() says why).
 */
static int instance_get(struct etcd *e, const char *cmd, const char *id, json_object **inst)
{
	struct etcd_kvs kvs;
	char key[256];
	int r;

	fleet_key(key, sizeof(key), "instances", id, NULL);
	r = etcd_get(e, key, ETCD_KEY, &kvs);
	if (r)
		return r;
	*inst = record_of(&kvs, "instances", id);
	if (!kvs.n) {
		fprintf(stderr, "%s: the fleet has no instance %s\n", cmd, id);
		r = 1;
	}
	etcd_kvs_free(&kvs);
	return r;
}

/* A fleet command's end: its line for an etcd failure, its exit status. */
static int fleet_cmd_end(const char *cmd, struct etcd *e, json_object *inst, int r)
{
	if (r < 0)
		fprintf(stderr, "%s: %s\n", cmd, etcd_error(e));
	json_object_put(inst);
	etcd_close(e);
	return r ? EXIT_USAGE : 0;
}

int fleet_cmd_stop(const char *endpoints, const char *id)
{
	struct etcd *e = fleet_open("cardvisor stop", endpoints);
	json_object *inst = NULL;
	char k_placed[256];
	const char *host;
	int r;

	if (!e)
		return EXIT_USAGE;
	r = instance_get(e, "cardvisor stop", id, &inst);
	if (!r) {
		/* Only while it is still placed there: a stop never re-places. */
		host = json_field_str(inst, "host", "");
		fleet_key(k_placed, sizeof(k_placed), "placed", host, id);
		struct etcd_cmp placed = { .key = k_placed, .target = ETCD_CMP_VERSION,
					   .result = ETCD_CMP_GREATER };
		struct etcd_op stop = { .type = ETCD_OP_PUT, .key = k_placed, .value = "stop",
					.value_len = 4 };
		struct etcd_txn t = { .cmp = &placed, .n_cmp = 1, .then = &stop, .n_then = 1 };

		r = etcd_txn(e, &t);
		if (!r && !t.succeeded) {
			fprintf(stderr, "cardvisor stop: %s has ended already\n", id);
			r = 1;
		} else if (!r) {
			printf("%s stopping on %s\n", id, host);
		}
	}
	return fleet_cmd_end("cardvisor stop", e, inst, r);
}

int fleet_cmd_rm(const char *endpoints, const char *id, bool force)
{
	struct etcd *e = fleet_open("cardvisor rm", endpoints);
	char k_inst[256], k_status[256], k_placed[256], k_host[256];
	struct etcd_kvs live = { 0 };
	json_object *inst = NULL;
	const char *host = "";
	int r;

	if (!e)
		return EXIT_USAGE;
	r = instance_get(e, "cardvisor rm", id, &inst);
	if (!r) {
		host = json_field_str(inst, "host", "");
		fleet_key(k_inst, sizeof(k_inst), "instances", id, NULL);
		fleet_key(k_status, sizeof(k_status), "status", id, NULL);
		fleet_key(k_placed, sizeof(k_placed), "placed", host, id);
		fleet_key(k_host, sizeof(k_host), "hosts", host, NULL);
	}
	/* --force: only where the host is gone, whose agent cannot release it. */
	if (!r && force)
		r = etcd_get(e, k_host, ETCD_KEY, &live);
	if (!r && force && live.n) {
		fprintf(stderr, "cardvisor rm: %s's host %s is alive: cardvisor stop --fleet %s\n",
			id, host, id);
		r = 1;
	} else if (!r && force) {
		r = fleet_release(e, host, id, "{\"state\":\"" FLEET_STOPPED "\",\"reason\":"
				  "\"removed from a lost host\"}");
	}
	etcd_kvs_free(&live);
	if (!r) {
		struct etcd_cmp ended = { .key = k_placed, .target = ETCD_CMP_VERSION, .number = 0 };
		struct etcd_op forget[] = {
			{ .type = ETCD_OP_DELETE, .key = k_inst },
			{ .type = ETCD_OP_DELETE, .key = k_status },
		};
		struct etcd_txn t = { .cmp = &ended, .n_cmp = 1, .then = forget, .n_then = 2 };

		r = etcd_txn(e, &t);
		if (!r && !t.succeeded) {
			fprintf(stderr, "cardvisor rm: %s is still placed on %s: cardvisor stop "
					"--fleet %s first (rm --force once %s is lost)\n", id, host, id,
				host);
			r = 1;
		} else if (!r) {
			printf("%s removed\n", id);
		}
	}
	return fleet_cmd_end("cardvisor rm", e, inst, r);
}

/* --- run --fleet ----------------------------------------------------------- */

/* A launch waiting for its host's first word: status/<id> past pending. */
struct launch {
	const char *endpoints;
	struct etcd_watch w;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	json_object *status;
	bool over;               /* the watch has ended */
};

static bool past_pending(json_object *o)
{
	return o && strcmp(json_field_str(o, "state", FLEET_PENDING), FLEET_PENDING);
}

static int launch_status(void *arg, const struct etcd_event *ev, size_t n)
{
	struct launch *l = arg;

	for (size_t i = 0; i < n; i++) {
		json_object *o = ev[i].type == ETCD_EVENT_PUT ?
			json_tokener_parse(ev[i].kv.value) : NULL;

		if (!past_pending(o)) {
			json_object_put(o);
			continue;
		}
		pthread_mutex_lock(&l->lock);
		l->status = o;
		pthread_mutex_unlock(&l->lock);
		return 1;
	}
	return 0;
}

static void *launch_watch(void *arg)
{
	struct launch *l = arg;
	struct etcd *e;

	if (!etcd_open(&e, l->endpoints)) {
		etcd_watch_run(e, &l->w);
		etcd_close(e);
	}
	pthread_mutex_lock(&l->lock);
	l->over = true;
	pthread_cond_signal(&l->cond);
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

/*
 * Until @id's host says how its start went: its status, or NULL with why
 * in @why (the host left the fleet, or took longer than LAUNCH_WAIT_S).
 */
static json_object *launch_wait(struct etcd *e, const char *endpoints, const char *id,
				const char *host, char *why, size_t whylen)
{
	struct launch l = { .endpoints = endpoints, .lock = PTHREAD_MUTEX_INITIALIZER,
			    .cond = PTHREAD_COND_INITIALIZER };
	char k_status[256], k_host[256];
	struct etcd_kvs kvs;
	pthread_t t;

	fleet_key(k_status, sizeof(k_status), "status", id, NULL);
	fleet_key(k_host, sizeof(k_host), "hosts", host, NULL);
	if (etcd_get(e, k_status, ETCD_KEY, &kvs)) {
		snprintf(why, whylen, "etcd: %s", etcd_error(e));
		return NULL;
	}
	if (kvs.n == 1)
		l.status = json_tokener_parse(kvs.kv[0].value);
	l.w = (struct etcd_watch){ .key = k_status, .match = ETCD_KEY,
				   .next_revision = kvs.revision + 1, .fn = launch_status, .arg = &l };
	etcd_kvs_free(&kvs);
	if (past_pending(l.status))
		return l.status;
	json_object_put(l.status);
	l.status = NULL;
	if (pthread_create(&t, NULL, launch_watch, &l)) {
		snprintf(why, whylen, "no thread");
		return NULL;
	}
	for (int s = 0; ; s++) {
		struct timespec until;
		bool done;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec++;
		pthread_mutex_lock(&l.lock);
		if (!l.over)
			pthread_cond_timedwait(&l.cond, &l.lock, &until);
		done = l.over;
		pthread_mutex_unlock(&l.lock);
		if (done)
			break;
		/* Once a second: is the host still there to start it? */
		if (s >= LAUNCH_WAIT_S) {
			snprintf(why, whylen, "%s has not started it in %d s (it stays placed "
				 "there: cardvisor stop --fleet %s)", host, LAUNCH_WAIT_S, id);
			etcd_watch_stop(&l.w);
		} else if (!etcd_get(e, k_host, ETCD_KEY, &kvs)) {
			if (kvs.n == 0) {
				snprintf(why, whylen, "%s left the fleet before starting it", host);
				etcd_watch_stop(&l.w);
			}
			etcd_kvs_free(&kvs);
		}
	}
	pthread_join(t, NULL);
	if (!l.status && !why[0])
		snprintf(why, whylen, "etcd: %s", etcd_error(e));
	return l.status;
}

int fleet_cmd_run(const char *endpoints, const struct fleet_request *r, bool json)
{
	char host[FLEET_NAME_MAX], why[256] = "";
	struct etcd *e = fleet_open("cardvisor run", endpoints);
	json_object *status = NULL;
	const char *state;
	int res = EXIT_USAGE;

	if (!e)
		return EXIT_USAGE;
	if (fleet_place(e, r, host, why, sizeof(why))) {
		fprintf(stderr, "cardvisor run: cannot place %s: %s\n", r->id, why);
		goto out;
	}
	status = launch_wait(e, endpoints, r->id, host, why, sizeof(why));
	state = json_field_str(status, "state", "");
	if (!status) {
		fprintf(stderr, "cardvisor run: %s placed on %s: %s\n", r->id, host, why);
	} else if (!strcmp(state, FLEET_FAILED)) {
		fprintf(stderr, "cardvisor run: %s could not start %s: %s\n", host, r->id,
			json_field_str(status, "reason", "no reason given"));
	} else if (json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "id", json_object_new_string(r->id));
		json_object_object_add(o, "host", json_object_new_string(host));
		json_object_object_add(o, "state", json_object_new_string(state));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_OUT));
		json_object_put(o);
		res = 0;
	} else {
		printf("%s\n", r->id);
		res = 0;
	}
out:
	json_object_put(status);
	etcd_close(e);
	return res;
}
