"""StatSTEM-style quantification: 2D Gaussian column fitting, Poisson Cramér–Rao lower bounds and
atom counting. Imports none of the suite's other packages."""
