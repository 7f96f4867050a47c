"""The conformance kit: what holds a target (the mock, real Vertex, any Vertex-compatible
endpoint) to the contract.

``strategies`` builds request bodies, valid and invalid, from the compiled message types of
``mockvertex.contract.protojson`` and the model profiles; its public face is
``mockvertex.strategies``. The kit's other modules run properties against a target. Nothing in
the rest of the package imports this one, and ``import mockvertex`` never loads Hypothesis.
"""
