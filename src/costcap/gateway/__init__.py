"""costcap's gateway: an OpenAI- and Anthropic-compatible proxy over the Guard (``costcap serve``)."""  # noqa: E501
