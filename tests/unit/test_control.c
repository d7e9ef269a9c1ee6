/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The control socket's request handling: JSON-lines requests, replies and
 * errors, over a real UNIX socket, against a VM that has no vCPUs.
 */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "hv/control.h"
#include "hv/vm.h"

struct fixture {
	struct vm vm;
	struct control *ctl;
	char path[64];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	pthread_mutex_init(&f->vm.lock, NULL);
	pthread_cond_init(&f->vm.cond, NULL);
	f->vm.cfg.id = "i-0123456789abcdef0";
	f->vm.cfg.kernel = "/k";
	f->vm.cfg.nr_vcpus = 2;
	f->vm.cfg.mem_size = 128ULL << 20;
	f->vm.state = VM_STATE_PENDING;
	snprintf(f->path, sizeof(f->path), "/tmp/cv-test-control-%d.sock", getpid());
	assert_int_equal(control_start(&f->ctl, &f->vm, f->path), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	control_stop(f->ctl);
	assert_int_not_equal(access(f->path, F_OK), 0); /* the socket file is gone */
	pthread_cond_destroy(&f->vm.cond);
	pthread_mutex_destroy(&f->vm.lock);
	free(f);
	return 0;
}

/* Send @req (raw bytes) and return the parsed one-line reply, or NULL on EOF. */
static struct json_object *call(struct fixture *f, const char *req, size_t len)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char buf[4096];
	size_t n = 0;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	memcpy(addr.sun_path, f->path, strlen(f->path));
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
	while (n < sizeof(buf) - 1 && !memchr(buf, '\n', n)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		assert_int_equal(poll(&p, 1, 5000), 1);
		r = recv(fd, buf + n, sizeof(buf) - 1 - n, 0);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	return n ? json_tokener_parse(buf) : NULL;
}

static const char *field(struct json_object *o, const char *key)
{
	struct json_object *v;

	assert_true(json_object_object_get_ex(o, key, &v));
	return json_object_get_string(v);
}

static struct json_object *call_str(struct fixture *f, const char *req)
{
	return call(f, req, strlen(req));
}

static void expect_error(struct fixture *f, const char *req, const char *msg)
{
	struct json_object *r = call_str(f, req);

	assert_non_null(r);
	assert_string_equal(field(r, "ok"), "false");
	assert_non_null(strstr(field(r, "error"), msg));
	json_object_put(r);
}

static void test_status(void **state)
{
	struct fixture *f = *state;
	struct json_object *r = call_str(f, "{\"cmd\":\"status\"}\n");

	assert_non_null(r);
	assert_string_equal(field(r, "ok"), "true");
	assert_string_equal(field(r, "id"), "i-0123456789abcdef0");
	assert_string_equal(field(r, "state"), "pending");
	assert_string_equal(field(r, "state_reason"), "starting");
	assert_string_equal(field(r, "vcpus"), "2");
	assert_string_equal(field(r, "memory"), "134217728");
	json_object_put(r);
}

static void test_malformed_requests(void **state)
{
	struct fixture *f = *state;

	expect_error(f, "not json\n", "not a JSON object");
	expect_error(f, "[1,2]\n", "not a JSON object");
	expect_error(f, "{\"command\":\"status\"}\n", "no \"cmd\"");
	expect_error(f, "{\"cmd\":7}\n", "no \"cmd\"");
	expect_error(f, "{\"cmd\":\"reboot\"}\n", "unknown command \"reboot\"");
	expect_error(f, "{\"cmd\":\"stop\",\"force\":\"yes\"}\n", "\"force\" must be a boolean");
	expect_error(f, "{\"cmd\":\"stop\",\"timeout_ms\":-5}\n", "non-negative");
	/* Pausing a VM that is not running is refused, and says why. */
	expect_error(f, "{\"cmd\":\"pause\"}\n", "cannot pause a VM that is pending");
}

static void test_two_requests_in_one_write(void **state)
{
	struct fixture *f = *state;
	struct json_object *r = call_str(f, "{\"cmd\":\"status\"}\n{\"cmd\":\"status\"}\n");

	/* Replies come in order; the first one is enough to prove parsing split them. */
	assert_non_null(r);
	assert_string_equal(field(r, "ok"), "true");
	json_object_put(r);
}

static void test_overlong_request(void **state)
{
	struct fixture *f = *state;
	size_t len = 5000;
	char *big = malloc(len);
	struct json_object *r;

	memset(big, 'x', len);
	r = call(f, big, len);
	assert_non_null(r);
	assert_string_equal(field(r, "ok"), "false");
	assert_non_null(strstr(field(r, "error"), "longer than"));
	json_object_put(r);
	free(big);
	/* The server is still there for the next client. */
	test_status(state);
}

static void test_forced_stop(void **state)
{
	struct fixture *f = *state;
	struct json_object *r = call_str(f, "{\"cmd\":\"stop\",\"force\":true}\n");

	assert_non_null(r);
	assert_string_equal(field(r, "state"), "stopping");
	assert_true(f->vm.stop_requested);
	assert_int_equal(f->vm.exit_status, VM_EXIT_OK);
	assert_non_null(strstr(f->vm.stop_reason, "forced"));
	json_object_put(r);
	r = call_str(f, "{\"cmd\":\"status\"}\n");
	assert_non_null(strstr(field(r, "stop_reason"), "forced"));
	assert_string_equal(field(r, "state_reason"), "requested");
	json_object_put(r);
}

/* status's "state_reason" as the VM goes through its states. */
static void expect_reason(struct fixture *f, const char *state, const char *reason)
{
	struct json_object *r = call_str(f, "{\"cmd\":\"status\"}\n");

	assert_string_equal(field(r, "state"), state);
	assert_string_equal(field(r, "state_reason"), reason);
	json_object_put(r);
}

static void test_state_reasons(void **state)
{
	struct fixture *f = *state;
	struct vcpu vcpus[2] = { 0 }; /* a paused VM's status says where each one parked */

	f->vm.vcpus = vcpus;
	f->vm.state = VM_STATE_RUNNING;
	expect_reason(f, "running", "booted");
	f->vm.state = VM_STATE_PAUSED; /* as vm_pause leaves it once the vCPUs parked */
	expect_reason(f, "paused", "requested");
	assert_int_equal(vm_resume(&f->vm), 0);
	expect_reason(f, "running", "resumed");
	/* A crash is what it is whoever asks to stop afterwards; cv-hv exits 2. */
	vm_stop(&f->vm, VM_STOP_CRASHED, "vcpu0: triple fault (shutdown) at RIP 0x%x", 0xfff0);
	vm_stop(&f->vm, VM_STOP_REQUESTED, "stopped by signal Terminated");
	expect_reason(f, "stopping", "crashed");
	assert_int_equal(f->vm.exit_status, VM_EXIT_GUEST_CRASH);
	f->vm.state = VM_STATE_STOPPED;
	expect_reason(f, "stopped", "crashed");
	f->vm.vcpus = NULL;
}

/* A guest that powers itself off stops with cause "guest" and exit status 0. */
static void test_guest_stop_reason(void **state)
{
	struct fixture *f = *state;

	f->vm.state = VM_STATE_RUNNING;
	vm_stop(&f->vm, VM_STOP_GUEST, "guest powered off (ACPI S5)");
	expect_reason(f, "stopping", "guest");
	assert_int_equal(f->vm.exit_status, VM_EXIT_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_requests_in_one_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlong_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forced_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_reasons, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_stop_reason, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
