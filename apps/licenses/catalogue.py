"""The catalogue entity other apps may use: `Product`, which store and updates point at.

Product lives with the licenses it is sold under, but store (tiers, orders, coupons) and updates
(releases, tokens) hold foreign keys to it and look products up, so it is public; License and
Activation are not, and are reached through `apps.licenses.selectors` and `services`.
"""

from apps.licenses.models import ActivationPolicy, Product

__all__ = ["ActivationPolicy", "Product"]
