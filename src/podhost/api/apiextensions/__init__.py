"""apiextensions.k8s.io: CustomResourceDefinitions and the custom resources they serve.

* `structural`: a CRD version's openAPIV3Schema as a structural schema: validation of custom
  objects with kube-openapi's field paths and wording, defaulting and pruning.
* `cel`: `x-kubernetes-validations` rules (CEL) with Kubernetes' libraries.
* `crd`: the CustomResourceDefinition resource itself: validation, names, conditions, and the
  served `ResourceType` it describes.
* `strategy`: `CustomResourceStrategy`, one custom resource's behaviour built from its CRD.
"""
