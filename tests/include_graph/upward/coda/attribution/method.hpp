// The higher layer that nn/layer.hpp wrongly includes.
#pragma once
