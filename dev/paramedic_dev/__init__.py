"""A real Kubernetes control plane on loopback, built from Go modules.

Used by the test-suite, the benchmark and the demo: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and KWOK run as local processes (no
containers), with fake nodes whose pods KWOK moves through their lifecycle.
"""
