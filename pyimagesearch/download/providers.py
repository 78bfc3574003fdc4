"""The image-search providers by name: adding one is an adapter module and a line here."""

from pyimagesearch.download.bing import Bing
from pyimagesearch.download.brave import Brave
from pyimagesearch.download.google import Google
from pyimagesearch.download.openverse import Openverse
from pyimagesearch.download.search import SearchProvider

PROVIDERS: dict[str, SearchProvider] = {provider.name: provider for provider in (Openverse(), Brave(), Google(), Bing())}
PROVIDER_NAMES = tuple(PROVIDERS)
DEFAULT_PROVIDER = "openverse"


def get_provider(name: str) -> SearchProvider:
    """The provider called ``name``.

    Raises:
        ValueError: Naming the providers there are.
    """
    if name not in PROVIDERS:
        raise ValueError(f"provider must be one of {', '.join(PROVIDER_NAMES)}, got {name!r}")
    return PROVIDERS[name]
