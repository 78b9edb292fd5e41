"""A release's workloads, judged without I/O: readiness rules (``rules``) and the release as last
observed (``view``). Shared by the wait phase (fed by watches) and `envctl status` (fed by lists)."""
