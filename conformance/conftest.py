"""The conformance suite from a checkout: ``pytest conformance`` (against the mock started
in-process), ``pytest conformance --target vertex --project P`` or ``--target URL``.

The options, the session fixture and the report come from the kit's plugin, loaded here as
``mockvertex conform`` loads it; the Hypothesis profiles ``ci``, ``dev`` and ``live`` are
registered here and chosen with ``--conformance-profile``:

* ``ci``: derandomized, the fixed bodies and twenty drawn ones per property, no example
  database: the same run every time, within three minutes on two cores (about ten seconds
  against the in-process mock);
* ``dev``: random, fifty drawn examples per property;
* ``live``: three drawn examples per property, no shrinking, requests paced to spare quota, a
  cost estimate printed before the first request.
"""

from mockvertex.conformance.plugin import register_profiles

pytest_plugins = ["mockvertex.conformance.plugin"]

register_profiles()
