"""The architectures of the zoo, one per module (import from the module itself).

==================  ==========================================================
module              what it holds
==================  ==========================================================
:mod:`.siren`       :class:`~zoo.models.siren.Siren` (the INRs) and its config
:mod:`.gmn`         :class:`~zoo.models.gmn.GraphMetanetwork` (NG-GNN)
:mod:`.ngt`         :class:`~zoo.models.ngt.RelationalTransformer` (NG-T)
:mod:`.mlp`         :class:`~zoo.models.mlp.MLPClassifier` (pixels or flat weights)
:mod:`.cnn`         :class:`~zoo.models.cnn.SmallCNN` (images)
==================  ==========================================================

Private helpers: ``_layout`` (the flat MLP/SIREN parameter layout, its one owner),
``_pna``, ``_edge_update``, ``_fourier`` (GMN layers), ``_relational`` (NG-T layers).
The package imports none of its modules, so ``zoo.models.siren`` stays light and
:mod:`zoo.graphs` (which the graph models build on) can read ``_layout`` below it.
"""

__all__ = ["cnn", "gmn", "mlp", "ngt", "siren"]
