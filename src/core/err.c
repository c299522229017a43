/*
 * Error names and messages, generated from COOP_ERR_TABLE. The switches have
 * no default so that -Wswitch-enum flags a code added without a message.
 */
#include "coop/core.h"

const char *coop_strerror(coop_err err)
{
    switch (err) {
#define COOP_ERR_MSG(name, msg)                                                                    \
    case COOP_ERR_##name:                                                                          \
        return msg;
        COOP_ERR_TABLE(COOP_ERR_MSG)
#undef COOP_ERR_MSG
    }
    return "unknown error";
}

const char *coop_err_name(coop_err err)
{
    switch (err) {
#define COOP_ERR_NAME(name, msg)                                                                   \
    case COOP_ERR_##name:                                                                          \
        return #name;
        COOP_ERR_TABLE(COOP_ERR_NAME)
#undef COOP_ERR_NAME
    }
    return "UNKNOWN";
}
