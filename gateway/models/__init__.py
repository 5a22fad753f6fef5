# One module per feature; Django finds the models through these imports.
from gateway.models.capabilities import *  # noqa: F403
from gateway.models.keys import *  # noqa: F403
from gateway.models.policies import *  # noqa: F403
from gateway.models.prices import *  # noqa: F403
from gateway.models.usage import *  # noqa: F403
from gateway.models.usage_daily import *  # noqa: F403
from gateway.models.workers import *  # noqa: F403
