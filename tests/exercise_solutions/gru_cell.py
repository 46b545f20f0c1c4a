def gru_step(x_t, h_prev, p):
    r_t = (x_t @ p["W_r"] + p["b_ir"] + h_prev @ p["U_r"] + p["b_hr"]).sigmoid()
    z_t = (x_t @ p["W_z"] + p["b_iz"] + h_prev @ p["U_z"] + p["b_hz"]).sigmoid()
    n_t = (x_t @ p["W_n"] + p["b_in"] + r_t * (h_prev @ p["U_n"] + p["b_hn"])).tanh()
    return (1 - z_t) * n_t + z_t * h_prev
