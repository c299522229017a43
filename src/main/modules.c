/*
 * The modules coopd serve runs, in start order (stopped in reverse).
 * A module adds one line here and one `const struct coop_app_module`.
 */
#include "app.h"

const struct coop_app_module *const coop_app_modules[] = {
    NULL,
};
