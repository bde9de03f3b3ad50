"""transfer_lab: how transferable are features in deep neural networks? (Yosinski et al. 2014)"""

from transfer_lab import resolvers

resolvers.register()
