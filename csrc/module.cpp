// Python module entry point of wsolx._C. Importing the module runs the static TORCH_LIBRARY
// registrations of csrc/ops/*, which define the wsolx:: operators and their CPU/CUDA kernels.
#include <Python.h>

static struct PyModuleDef wsolx_module = {PyModuleDef_HEAD_INIT, "_C", "wsolx fused kernels", -1, nullptr};

PyMODINIT_FUNC PyInit__C(void) { return PyModule_Create(&wsolx_module); }
