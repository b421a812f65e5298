/* jsonutil.h - small jansson helpers shared by the readers of config.json and safetensors headers. */
#ifndef AWQ_JSONUTIL_H
#define AWQ_JSONUTIL_H

#include <jansson.h>

/* "an object", "an integer", ... for messages like "key 'x' is a string, expected an integer". */
const char *awq_json_kind(const json_t *v);

#endif
