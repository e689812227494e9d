def generate_kernel_trace(): pass
class GeneratedTrace: pass
