/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A field of a JSON object someone else wrote (a control socket's reply, a
 * fleet record in etcd), or a default where it is absent: the one reader
 * cardvisor and the fleet's records share.
 */
#ifndef CV_JSON_FIELD_H
#define CV_JSON_FIELD_H

#include <stdint.h>

#include <json-c/json.h>

static inline const char *json_field_str(json_object *o, const char *name, const char *dflt)
{
	json_object *f;

	return json_object_object_get_ex(o, name, &f) ? json_object_get_string(f) : dflt;
}

/* json-c reads a string of digits as its number too (etcd's int64s). */
static inline int64_t json_field_i64(json_object *o, const char *name)
{
	json_object *f;

	return json_object_object_get_ex(o, name, &f) ? json_object_get_int64(f) : 0;
}

#endif /* CV_JSON_FIELD_H */
