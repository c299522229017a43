/*
 * Fuzz target: strict JSON parsing of outside input (coop_json_parse), and
 * the JSON string escaping every log line and error body goes through. A
 * document that parses must re-serialize and parse again; any escaped
 * string must parse as JSON.
 */
#include "coop/core.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_object *obj = NULL;
    if (coop_json_parse((const char *)data, size, 64, true, &obj) == COOP_ERR_OK) {
        const char *text = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN);
        json_object *again = NULL;
        if (coop_json_parse(text, strlen(text), 64, true, &again) != COOP_ERR_OK)
            abort();
        json_object_put(again);
        json_object_put(obj);
    }

    struct coop_buf b;
    coop_buf_init(&b, size * 6 + 16);
    if (coop_buf_json_str(&b, (const char *)data, size) != COOP_ERR_OK)
        abort();
    json_object *str = json_tokener_parse(b.data);
    if (!str || !json_object_is_type(str, json_type_string))
        abort();
    json_object_put(str);
    coop_buf_dispose(&b);
    return 0;
}
