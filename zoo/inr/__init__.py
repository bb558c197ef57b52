"""Implicit neural representations: fitting, storing and reading SIREN populations.

=====================  =========================================================
module                 what it holds
=====================  =========================================================
:mod:`.fit`            fitting many SIRENs per vectorised step (``FitConfig``)
:mod:`.grid`           the hand-written forward and gradient on a pixel grid
:mod:`.batched`        many SIRENs evaluated at once on any coordinates
:mod:`.population`     fitting a whole population into the catalog, resumably
:mod:`.importer`       importing a published INR zoo as a population
:mod:`.augment`        image-space augmentations applied to SIREN weights
:mod:`.render`         an INR rendered back to an image
=====================  =========================================================

The package imports none of its modules (import from each), so a light command that
needs one of them does not load the others.
"""

__all__ = ["augment", "batched", "fit", "grid", "importer", "population", "render"]
