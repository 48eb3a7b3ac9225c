"""Physics of the suite: Pt structures, abTEM multislice HAADF images with frozen phonons, detector
noise and scan distortions, and synthetic training pairs. Imports none of the suite's other packages."""
