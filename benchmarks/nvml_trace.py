"""Sample every GPU's energy counter (mJ), power (mW), memory and compute PIDs every 0.5 s to CSV.

usage: python3 benchmarks/nvml_trace.py OUT.csv SECONDS (needs pynvml and an NVIDIA driver)
"""
import sys
import time

import pynvml

pynvml.nvmlInit()
n = pynvml.nvmlDeviceGetCount()
hs = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(n)]
end = time.time() + float(sys.argv[2])
with open(sys.argv[1], "w") as f:
    f.write("t,index,energy_mj,power_mw,mem_used,pids\n")
    while time.time() < end:
        t = time.time()
        for i, h in enumerate(hs):
            try:
                pids = ";".join(str(p.pid) for p in pynvml.nvmlDeviceGetComputeRunningProcesses(h))
            except pynvml.NVMLError as e:
                pids = f"err:{e}"
            f.write(f"{t:.3f},{i},{pynvml.nvmlDeviceGetTotalEnergyConsumption(h)},{pynvml.nvmlDeviceGetPowerUsage(h)},"
                    f"{pynvml.nvmlDeviceGetMemoryInfo(h).used},{pids}\n")
        f.flush()
        time.sleep(0.5)
