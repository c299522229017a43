/*
 * A self-hosted OpenAI-compatible server (vLLM, llama.cpp, TGI, Ollama):
 * base URL from COOP_SELFHOSTED_BASE_URL (the form the openai SDK takes,
 * e.g. https://llm.internal/v1), optional key COOP_SELFHOSTED_API_KEY.
 * These servers accept extra body fields, so the retention_policy
 * annotation travels in the body when the policy says so (the default).
 */
#include "../router_int.h"

static coop_err build(const struct coop_provider_input *in, struct coop_provider_request *out)
{
    return openai_compat_build(in, out, false);
}

const struct coop_provider_ops coop_provider_selfhosted = {
    .version = 1,
    .name = "selfhosted",
    .key_var = "COOP_SELFHOSTED_API_KEY",
    .base_url_var = "COOP_SELFHOSTED_BASE_URL",
    .default_base_url = NULL,
    .key_required = false,
    .native_controls = "",
    .build = build,
    .translate_response = openai_compat_response,
    .translate_event = openai_compat_event,
};
