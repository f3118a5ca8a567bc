"""What ``plot`` and ``neps-core plot`` default to, apart from the plotting module itself:
that one reads runs, which the command-line parser and ``overwrite`` need not import."""

#: The files ``plot`` writes, in order: trajectory, Pareto front, learning curves.
PLOT_FILES = ("trajectory.png", "pareto_front.png", "learning_curves.png")
#: The defaults of ``plot_pareto_front`` and ``plot_learning_curves``, also ``write_plots``'s.
FIRST_TWO_OBJECTIVES = (0, 1)
MAX_CURVES = 50
