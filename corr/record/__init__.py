"""``corr record``: what a rule set needs recorded (:mod:`.plan`), the tracer
commands that record it (:mod:`.commands`), and running them around a
workload with private daemons that never outlive the recording (:mod:`.session`)."""
